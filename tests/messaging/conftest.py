"""Fixtures for the messaging tests: this run's own RabbitMQ vhost, a tap on the `orders`
exchange, fast relay settings and a clean outbox.

The vhost `orders_test_<run id>` is created with `rabbitmqctl` (the management plugin may be
off) and deleted at the end, so runs never see each other's exchanges, queues or messages.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aio_pika
import asyncpg
import pytest

from tests.conftest import RUN_ID, service_unavailable

VHOST = f"orders_test_{RUN_ID}"
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{quote(VHOST, safe='')}"
CLOSED_PORT_URL = f"amqp://guest:guest@127.0.0.1:1/{quote(VHOST, safe='')}"
VHOST_GONE = 65  # rabbitmqctl's exit status for "Virtual host ... does not exist"
WAIT = 20.0  # seconds any single expectation may take before the test fails


def _rabbitmqctl(*args: str) -> None:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise FileNotFoundError("rabbitmqctl is not installed")
    subprocess.run([executable, *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbit_vhost() -> Iterator[str]:
    """This run's vhost on the real RabbitMQ; the AMQP URL to reach it."""
    try:
        _rabbitmqctl("add_vhost", VHOST)
        _rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as error:
        service_unavailable("RabbitMQ (rabbitmqctl)", error)
    try:
        yield AMQP_URL
    finally:
        _delete_vhost()


def _delete_vhost() -> None:
    """Remove this run's vhost; a broker slow to answer gets a second try, then a warning
    (a leftover vhost is untidy, not a failed test). Gone already is done: a module that
    imports `rabbit_vhost` (tests/telemetry) makes pytest run this fixture, and this, twice."""
    for attempt in (1, 2):
        try:
            _rabbitmqctl("delete_vhost", VHOST)
            return
        except subprocess.CalledProcessError as error:
            if error.returncode == VHOST_GONE:
                return
            if attempt == 2:
                warnings.warn(f"could not delete the test vhost {VHOST}: {error}", stacklevel=1)
        except (OSError, subprocess.SubprocessError) as error:
            if attempt == 2:
                warnings.warn(f"could not delete the test vhost {VHOST}: {error}", stacklevel=1)


@pytest.fixture
async def empty_db(db: str) -> str:
    """The empty database, the consumer's de-duplication ids cleared too (no pool: for apps)."""
    connection = await asyncpg.connect(db)
    try:
        await connection.execute("TRUNCATE processed_messages RESTART IDENTITY")
    finally:
        await connection.close()
    return db


@pytest.fixture
async def outbox_db(empty_db: str, pool: str) -> str:
    """The empty database with the app's pool open in this process."""
    return pool


def fast_settings(url: str | None = None, **overrides: Any) -> Any:
    """Settings with short poll and retry intervals, so waits in tests stay short."""
    from pydantic import SecretStr

    from subgraph.settings import get_settings

    values: dict[str, Any] = {
        "rabbitmq_url": SecretStr(url) if url else None,
        "outbox_poll_seconds": 0.2,
        "outbox_retry_base_seconds": 0.1,
        "outbox_retry_max_seconds": 0.5,
        "rabbitmq_connect_timeout_seconds": 3.0,
        "rabbitmq_publish_timeout_seconds": 3.0,
    }
    values.update(overrides)
    return get_settings().model_copy(update=values)


@dataclass
class Received:
    """One message as a consumer of the `orders` exchange sees it."""

    routing_key: str
    body: dict[str, Any]
    message_id: str | None
    correlation_id: str | None
    content_type: str | None
    delivery_mode: int | None


class EventTap:
    """An exclusive queue bound to `orders` with `order.#`, collecting every message."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[Received] = []
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> EventTap:
        self.connection = await aio_pika.connect(self.url, timeout=10)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            "orders", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="order.#")
        await queue.consume(self._on_message, no_ack=True)
        self._exchange = exchange
        return self

    async def drain(self, seconds: float = WAIT) -> list[Received]:
        """Every message the broker had accepted for us before this call, and nothing else.

        A marker published now (with a publisher confirm) is queued behind every message the
        broker confirmed earlier: once it arrives, nothing confirmed before it is still on its
        way, so "no duplicate arrived" needs no fixed wait.
        """
        marker = f"drain-{id(self)}-{len(self.received)}"
        await self._exchange.publish(
            aio_pika.Message(b"{}", message_id=marker), routing_key="order.drain-marker"
        )
        await self.wait_until(lambda got: any(m.message_id == marker for m in got), seconds)
        async with self._arrived:
            self.received = [m for m in self.received if m.routing_key != "order.drain-marker"]
        return list(self.received)

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.received.append(
                Received(
                    routing_key=message.routing_key or "",
                    body=json.loads(message.body),
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    content_type=message.content_type,
                    delivery_mode=int(message.delivery_mode) if message.delivery_mode else None,
                )
            )
            self._arrived.notify_all()

    async def wait_for(self, count: int, seconds: float = WAIT) -> list[Received]:
        """Wait until at least `count` messages arrived; fail after `seconds`."""
        return await self.wait_until(lambda received: len(received) >= count, seconds)

    async def wait_until(
        self, done: Callable[[list[Received]], bool], seconds: float = WAIT
    ) -> list[Received]:
        """Wait until `done` holds for the messages received so far; fail after `seconds`."""
        async with asyncio.timeout(seconds):
            async with self._arrived:
                await self._arrived.wait_for(lambda: done(self.received))
        return list(self.received)


@pytest.fixture
async def tap(rabbit_vhost: str) -> AsyncIterator[EventTap]:
    async with EventTap(rabbit_vhost) as event_tap:
        yield event_tap


async def eventually(check: Any, seconds: float = WAIT, interval: float = 0.1) -> Any:
    """Poll the async `check` until it returns something truthy; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


@pytest.fixture
async def queue(rabbit_vhost: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """An exclusive queue bound to `orders` for order.placed only, in the test's vhost."""
    connection = await aio_pika.connect(rabbit_vhost, timeout=10)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("orders", durable=True, type="topic")
    bound = await channel.declare_queue(exclusive=True)
    await bound.bind(exchange, routing_key="order.placed")
    try:
        yield bound
    finally:
        await connection.close()

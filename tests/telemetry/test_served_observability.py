"""`orders-subgraph serve --workers 2` with RabbitMQ, exporting traces to a collector the test
runs, scraped and read as production would: one trace from the router's traceparent to our
consumer, one scrape counting every process, one JSON log format for every process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from tests.messaging.conftest import WAIT, eventually, rabbit_vhost  # noqa: F401 - fixture
from tests.support import bearer, free_port, make_token
from tests.telemetry.collector import Collector

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
PLACE = """
mutation PlaceTraced($user: ID!) {
  placeOrder(userId: $user, productId: "p-traced-77", quantity: 3) { success order { id } }
}
"""
COUNTED = "query CountedOrders { getOrders { id } }"


@dataclass
class Served:
    url: str
    log: Path
    collector: Collector
    amqp_url: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def served(
    postgres_database: str,
    rabbit_vhost: str,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("observed")
    collector = Collector()
    port = free_port()
    log = directory / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": postgres_database,
        "RABBITMQ_URL": rabbit_vhost,
        "LOG_LEVEL": os.environ.get("OBS_LOG_LEVEL", "INFO"),
        "LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "orders-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OUTBOX_POLL_SECONDS": "0.2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--workers", "2", "--no-migrate"],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).json().get("broker") == (
                    "another process"
                ):
                    break
            except (httpx.TransportError, ValueError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Served(url, log, collector, rabbit_vhost, process)
    finally:
        process.terminate()
        process.wait(timeout=30)
        collector.close()


class Tap:
    """Every message on the `orders` exchange, with its headers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def __aenter__(self) -> Tap:
        self.connection = await aio_pika.connect(self.url, timeout=10)
        self.channel = await self.connection.channel()
        orders = await self.channel.declare_exchange(
            "orders", aio_pika.ExchangeType.TOPIC, durable=True
        )
        self.inventory = await self.channel.declare_exchange(
            "inventory", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self.channel.declare_queue(exclusive=True)
        await queue.bind(orders, routing_key="order.#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.messages.append(message)

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def one(self, routing_key: str, order_id: str) -> aio_pika.abc.AbstractIncomingMessage:
        def found() -> aio_pika.abc.AbstractIncomingMessage | None:
            for message in self.messages:
                order = json.loads(message.body)["order"]
                if message.routing_key == routing_key and str(order["id"]) == str(order_id):
                    return message
            return None

        try:
            await eventually(lambda: asyncio.sleep(0, found() is not None))
        except TimeoutError:
            seen = [(m.routing_key, m.body[:200]) for m in self.messages]
            pytest.fail(f"no {routing_key} for order {order_id}; seen {seen}")
        result = found()
        assert result is not None
        return result

    async def inventory_result(self, body: dict[str, Any], headers: dict[str, Any]) -> None:
        await self.inventory.publish(
            aio_pika.Message(json.dumps(body).encode(), headers=headers, message_id=str(body)),
            routing_key="inventory.reserved",
        )


def _trace_id(headers: Any) -> str:
    traceparent = str(headers["traceparent"])
    return traceparent.split("-")[1]


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        yield client


async def test_one_trace_runs_from_the_router_through_the_database_outbox_broker_and_consumer(
    served: Served, http: httpx.AsyncClient
) -> None:
    async with Tap(served.amqp_url) as tap:
        response = await http.post(
            "/graphql",
            json={"query": PLACE, "variables": {"user": "u-traced"}},
            headers={**bearer("u-traced"), "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        order_id = response.json()["data"]["placeOrder"]["order"]["id"]

        placed = await tap.one("order.placed", order_id)
        assert _trace_id(placed.headers) == TRACE_ID  # the AMQP message carries the trace
        # The products service answers, continuing the trace it received.
        result = {
            "event_id": f"inv-{uuid.uuid4()}",
            "order_id": order_id,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        await tap.inventory_result(result, {"traceparent": placed.headers["traceparent"]})
        updated = await tap.one("order.updated", order_id)
        assert _trace_id(updated.headers) == TRACE_ID

    def kinds() -> set[str]:
        return {s.kind for s in served.collector.trace(TRACE_ID)}

    async def complete() -> bool:
        spans = served.collector.trace(TRACE_ID)
        producers = [s for s in spans if s.kind == "PRODUCER" and "publish" in s.name]
        return len(producers) >= 2 and "CONSUMER" in kinds()

    await eventually(complete)
    spans = served.collector.trace(TRACE_ID)
    names = {s.name for s in spans}
    assert {"SERVER", "INTERNAL", "CLIENT", "PRODUCER", "CONSUMER"} <= kinds(), names
    server = next(s for s in spans if s.kind == "SERVER")
    assert server.name == "POST /graphql"
    assert server.parent_span_id == PARENT_ID  # continues the router's span
    assert "mutation PlaceTraced" in names
    inserts = [s for s in spans if s.kind == "CLIENT" and s.name == "INSERT"]
    assert any("order_outbox" in s.attributes["db.query.text"] for s in inserts)
    assert {s.service for s in spans} == {"orders-under-test"}
    publishes = {s.name for s in spans if s.kind == "PRODUCER"}
    assert {"orders.order.placed publish", "orders.order.updated publish"} <= publishes
    assert "inventory.inventory.reserved process" in names
    # Statements carry their text with placeholders, never the values.
    for span in spans:
        for value in span.attributes.values():
            assert "p-traced-77" not in str(value)
            assert "u-traced" not in str(value)


async def test_a_malformed_traceparent_starts_a_new_trace_and_is_never_an_error(
    served: Served, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/graphql",
        json={"query": "query Malformed { getOrders { id } }"},
        headers={**bearer("u-m"), "traceparent": "00-not-a-trace-id-at-all-zz"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"getOrders": []}}

    def traced() -> bool:
        return any(s.name == "query Malformed" for s in served.collector.spans)

    await eventually(lambda: asyncio.sleep(0, traced()))
    span = next(s for s in served.collector.spans if s.name == "query Malformed")
    server = next(s for s in served.collector.trace(span.trace_id) if s.kind == "SERVER")
    assert server.parent_span_id == ""  # a new trace, rooted here


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()) and (
            set(found) - {"le"} == set(labels)
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _scrapes(url: str, times: int) -> list[str]:
    """`times` scrapes, each on a new connection (so the two workers answer in turn)."""
    texts = []
    for _ in range(times):
        with httpx.Client(base_url=url, timeout=10) as client:
            response = client.get("/metrics")
            assert response.status_code == 200
            texts.append(response.text)
    return texts


async def test_any_worker_s_scrape_counts_the_requests_of_every_worker_and_the_messaging_process(
    served: Served,
) -> None:
    labels = {"operation": "CountedOrders", "type": "query", "outcome": "ok"}
    before = {
        _sample(t, "orders_graphql_requests_total", **labels) for t in _scrapes(served.url, 6)
    }
    assert len(before) == 1
    for _ in range(20):  # each on a new connection: both workers serve some
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            response = await client.post("/graphql", json={"query": COUNTED}, headers=bearer("c"))
            assert response.json() == {"data": {"getOrders": []}}
    unauthenticated = {**labels, "outcome": "UNAUTHENTICATED"}
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        await client.post("/graphql", json={"query": COUNTED})
    (count_before,) = before
    # A worker writes its counts within 50 ms of going idle (overrides/metrics_batches.py).
    deadline = time.monotonic() + 5
    while True:
        scrapes = _scrapes(served.url, 6)
        counts = {_sample(t, "orders_graphql_requests_total", **labels) for t in scrapes}
        refused = {_sample(t, "orders_graphql_requests_total", **unauthenticated) for t in scrapes}
        if (counts, refused) == ({count_before + 20}, {1.0}) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert counts == {count_before + 20}  # every worker's scrape counts both workers' requests
    assert {_sample(t, "orders_graphql_requests_total", **unauthenticated) for t in scrapes} == {
        1.0
    }
    durations = {
        _sample(
            t,
            "orders_graphql_request_duration_seconds_count",
            operation="CountedOrders",
            type="query",
        )
        for t in scrapes
    }
    assert durations == {count_before + 21}
    text = scrapes[0]
    # The messaging process's samples are in the same scrape.
    assert (
        _sample(
            text, "orders_relay_publishes_total", event_type="order.placed", outcome="published"
        )
        >= 1
    )
    assert _sample(text, "orders_relay_publish_lag_seconds_count") >= 1
    assert _sample(text, "orders_db_pool_connections", state="size") >= 2
    assert "orders_outbox_unpublished 0.0" in text
    assert "orders_outbox_oldest_age_seconds" in text
    # Label values never carry ids or tokens.
    assert "u-traced" not in text and make_token("c")[:20] not in text


async def test_inventory_results_handled_duplicated_and_dead_lettered_are_counted(
    served: Served, http: httpx.AsyncClient
) -> None:
    def inventory(text: str, outcome: str) -> float:
        return _sample(text, "orders_inventory_messages_total", outcome=outcome)

    before = _scrapes(served.url, 1)[0]
    response = await http.post(
        "/graphql",
        json={"query": PLACE, "variables": {"user": "u-inv"}},
        headers=bearer("u-inv"),
    )
    order_id = response.json()["data"]["placeOrder"]["order"]["id"]
    result = {
        "event_id": f"inv-{uuid.uuid4()}",
        "order_id": order_id,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    async with Tap(served.amqp_url) as tap:
        await tap.inventory_result(result, {})
        await tap.inventory_result(result, {})  # a redelivery: a duplicate
        await tap.inventory_result({"not": "an inventory result"}, {})  # dead-lettered

    async def counted() -> bool:
        text = _scrapes(served.url, 1)[0]
        return (
            inventory(text, "applied") == inventory(before, "applied") + 1
            and inventory(text, "duplicate") == inventory(before, "duplicate") + 1
            and inventory(text, "dead_lettered") == inventory(before, "dead_lettered") + 1
        )

    await eventually(counted)


async def test_every_process_logs_json_lines_naming_the_operation_and_never_a_token(
    served: Served, http: httpx.AsyncClient
) -> None:
    token = make_token("u-log")
    await http.post(
        f"/graphql?token={token}",
        json={"query": "query LoggedOrders { getOrders { id } }"},
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "log-probe-1"},
    )

    def access_line() -> dict[str, Any] | None:
        for line in served.log.read_text().splitlines():
            if "log-probe-1" in line and "uvicorn.access" in line:
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        return None

    await eventually(lambda: asyncio.sleep(0, access_line()))
    entry = access_line()
    assert entry is not None
    assert entry["operation"] == "LoggedOrders" and entry["operation_type"] == "query"
    assert entry["duration_ms"] > 0 and entry["request_id"] == "log-probe-1"
    assert len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16
    assert "token=[redacted]" in entry["message"]
    text = served.log.read_text()
    assert token not in text
    loggers = set()
    for line in text.splitlines():
        if line.strip():
            parsed = json.loads(line)  # every line of every process is one JSON object
            assert {"time", "level", "logger", "message"} <= set(parsed)
            loggers.add(parsed["logger"])
    # uvicorn's error and access logs, ours, the messaging process's, FastStream's.
    assert {"uvicorn.error", "uvicorn.access", "subgraph.messaging"} <= loggers
    assert any(name.startswith("faststream") for name in loggers), loggers

"""Running the messaging side in the background: connect to RabbitMQ, relay the outbox, consume.

Used by the app's lifespan and by `orders-subgraph relay`. Starting never waits for the
broker: the connection is retried with backoff in a background task, and until it succeeds
events simply wait in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, Literal

from faststream.rabbit import RabbitBroker
from piccolo.engine.base import Engine

from subgraph.heap import freeze_startup_objects
from subgraph.messaging.broker import declare_topology, make_broker
from subgraph.messaging.inventory import add_inventory_consumer
from subgraph.messaging.publisher.events import EventPublisher
from subgraph.messaging.publisher.relay import OutboxRelay, RelayOptions
from subgraph.messaging.publisher.wakeups import Polling, PostgresNotifications, Wakeups
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.outbox import CLAIM_PLANNER_SETTINGS, OutboxStore, RetryPolicy
from subgraph.persistence.unit_of_work import UnitOfWork
from subgraph.settings import Settings

logger = logging.getLogger("subgraph.messaging")

BrokerState = Literal["disabled", "connecting", "connected", "another process"]
STOP_GRACE_SECONDS = 5.0
POOL_CLOSE_SECONDS = 5.0
LEFTOVER_TASKS_SECONDS = 5.0


class Messaging:
    """The broker connection, the outbox relay and the inventory consumer of one process."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine[Any],
        *,
        relay: bool,
        consume: bool,
        url: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.relay_enabled = relay
        self.consume = consume
        self.url = url or (
            settings.rabbitmq_url.get_secret_value() if settings.rabbitmq_url else None
        )
        self.retry = RetryPolicy(
            base_seconds=settings.outbox_retry_base_seconds,
            max_seconds=settings.outbox_retry_max_seconds,
        )
        self.store = OutboxStore(engine, self.retry)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._broker: RabbitBroker | None = None
        self._wakeups: Wakeups | None = None
        self._connected = False

    async def state(self) -> BrokerState:
        """Whether this process talks to RabbitMQ right now ("another process" does it for us)."""
        if self._task is None:
            if self.url is not None and not (self.relay_enabled or self.consume):
                return "another process"
            return "disabled"
        broker = self._broker
        if self._connected and broker is not None and await broker.ping(timeout=0.2):
            return "connected"
        return "connecting"

    def start(self) -> None:
        """Start the background task; returns at once."""
        if not (self.relay_enabled or self.consume):
            logger.info("messaging: neither the relay nor the inventory consumer runs here")
            return
        if self.url is None:
            logger.warning(
                "messaging: RABBITMQ_URL is not set; events stay in the outbox and no "
                "inventory results are consumed until a relay with a broker runs"
            )
            return
        self._task = asyncio.create_task(self._run(), name="orders-messaging")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        """Let a publishing round finish (bounded), then close the broker and LISTEN connections."""
        task, self._task = self._task, None
        self._stop.set()
        if task is not None:
            grace = self.settings.rabbitmq_publish_timeout_seconds + STOP_GRACE_SECONDS
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                # Cancelled only when the round overruns its own publish timeout.
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._close()

    async def wait(self) -> None:
        """Block until the background task ends (it normally runs until `stop`)."""
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        broker = make_broker(self.settings, url=self.url)
        publisher = EventPublisher(
            broker,
            timeout_seconds=self.settings.rabbitmq_publish_timeout_seconds,
            direct=self.settings.override("relay_publish"),
        )
        if self.consume:
            add_inventory_consumer(broker, lambda: UnitOfWork(self.engine))
        self._broker = broker
        if not await self._connect(broker):
            return
        if not self.relay_enabled:
            await self._stop.wait()  # the consumer runs inside the broker
            return
        self._wakeups = self._make_wakeups()
        relay = OutboxRelay(
            store=self.store,
            publish=publisher.publish,
            wakeups=self._wakeups,
            options=RelayOptions(
                batch_size=self.settings.outbox_batch_size,
                poll_seconds=self.settings.outbox_poll_seconds,
                gather_seconds=self.settings.outbox_gather_seconds,
                retention=timedelta(hours=self.settings.outbox_retention_hours),
                retry=self.retry,
                key_retention=timedelta(hours=self.settings.idempotency_key_retention_hours),
            ),
        )
        await relay.run(self._stop)

    async def _connect(self, broker: RabbitBroker) -> bool:
        """Connect, retrying with backoff; False when stopped first."""
        attempt = 0
        timeout = self.settings.rabbitmq_connect_timeout_seconds
        while not self._stop.is_set():
            attempt += 1
            try:
                async with asyncio.timeout(timeout):
                    await broker.connect()
                    await declare_topology(broker, consume=self.consume)
                    await broker.start()
            except Exception as error:  # noqa: BLE001 - retried; the URL may hold credentials
                delay = self.retry.delay(attempt).total_seconds()
                logger.warning(
                    "messaging: RabbitMQ unreachable (%s); retrying in %.1f s",
                    type(error).__name__,
                    delay,
                )
                with contextlib.suppress(Exception):
                    await broker.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                continue
            self._connected = True
            logger.info(
                "messaging: connected to RabbitMQ (relay %s, inventory consumer %s)",
                "on" if self.relay_enabled else "off",
                "on" if self.consume else "off",
            )
            return True
        return False

    def _make_wakeups(self) -> Wakeups:
        dsn = self.settings.postgres_dsn
        if is_postgres(self.engine) and dsn:
            return PostgresNotifications(dsn)
        return Polling()

    async def _close(self) -> None:
        self._connected = False
        wakeups, self._wakeups = self._wakeups, None
        if wakeups is not None:
            await wakeups.close()
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):
                await broker.stop()


async def run_until_signalled(settings: Settings, *, relay: bool, consume: bool) -> None:
    """`orders-subgraph relay`: relay (and consume) until SIGINT or SIGTERM."""
    import signal

    from subgraph.persistence.engine import close_pool, make_engine, open_pool

    stop = asyncio.Event()
    forced = asyncio.Event()  # a second signal: stop waiting for the round

    def signalled_once_more() -> None:
        if stop.is_set():
            logger.warning("messaging: second signal, exiting now")
            forced.set()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled_once_more)
    from subgraph.telemetry import wiring as telemetry

    telemetry.prepare(settings)  # observability: tracing per OTEL_*, one log handler
    # This process's pool serves only the relay and the inventory consumer: its connections
    # start with the planner settings a claim needs, which saves each claim a statement. The
    # consumer's few statements are then planned afresh too (~0.1 ms each), at its low rate.
    engine = make_engine(settings, server_settings=CLAIM_PLANNER_SETTINGS if relay else None)
    await open_pool(engine, settings)
    freeze_startup_objects()  # full collections then skip start-up's objects (subgraph/heap)
    sampling = telemetry.start(settings, engine)  # observability: pool gauges
    messaging = Messaging(settings, engine, relay=relay, consume=consume)
    messaging.start()
    signalled = asyncio.ensure_future(stop.wait())
    running = asyncio.ensure_future(messaging.wait())
    try:
        await asyncio.wait({signalled, running}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # a crash ends the command with its error
        logger.info("messaging: stopping")
    finally:
        signalled.cancel()
        # The round in progress finishes and its confirmed events are marked, within
        # SHUTDOWN_TIMEOUT_SECONDS; a second signal or the timeout cuts it short.
        stopping = asyncio.ensure_future(messaging.stop())
        cut = asyncio.ensure_future(forced.wait())
        await asyncio.wait(
            {stopping, cut},
            timeout=settings.shutdown_timeout_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        cut.cancel()
        if not stopping.done():
            logger.warning("messaging: stopping cut short; unconfirmed events stay in the outbox")
            stopping.cancel()
        await telemetry.stop(sampling)
        with contextlib.suppress(TimeoutError):
            # asyncpg terminates the pool when its graceful close is cut short.
            async with asyncio.timeout(POOL_CLOSE_SECONDS):
                await close_pool(engine)
        # uvloop keeps its handler after the loop closes (asyncio restores the default): a
        # SIGTERM after this point would be swallowed by a loop that no longer runs.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        # asyncio.run then cancels every task left and waits for each without a bound: once a
        # killed `serve`'s messaging process waited there for good on a library's task that
        # ignored its cancellation. Our work is done by now, so such a task is left behind.
        stuck = await cancel_leftover_tasks(LEFTOVER_TASKS_SECONDS)
        if stuck:
            from subgraph.parent_death import exit_immediately

            logger.warning("messaging: exiting without tasks that ignored cancellation: %s", stuck)
            exit_immediately(0)


async def cancel_leftover_tasks(seconds: float) -> list[str]:
    """Cancel every other task of this loop and wait up to `seconds` for them to end; return
    those still running (each named by its task and coroutine)."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    if not left:
        return []
    _, pending = await asyncio.wait(left, timeout=seconds)
    return sorted(f"{t.get_name()} ({t.get_coro()!r})" for t in pending)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("messaging stopped unexpectedly", exc_info=task.exception())

"""The relay-lag cell: watch the outbox and the `orders` exchange while placeOrder runs.

Two views of the lag. From the database: `published_at - created_at` of each outbox row; the
row is written right before its transaction commits and marked published after the broker's
confirm, so this is commit -> broker ack, the figure the target is about. From the broker: a
consumer of our own bound to the `orders` exchange timestamps each event against its
`occurred_at`, taken when the request began; that view adds the request's own transaction and
the delivery to the consumer. A build without a relay leaves `published_at` empty and the
exchange silent: the cell then says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import psutil

FIND_OUTBOX = """
SELECT c.table_name FROM information_schema.columns c
WHERE c.table_schema = 'public' AND c.table_name LIKE '%outbox%'
  AND c.column_name = 'published_at'
ORDER BY c.table_name LIMIT 1
"""


# How long a write cell's rows may take to be published after wrk stops, before the relay's
# CPU is read: its CPU per event counts only the events it published in the window.
DRAIN_TIMEOUT_SECONDS = 15.0


def messaging_process(processes: list[psutil.Process]) -> psutil.Process | None:
    """The server's messaging process (relay and consumer): `python -m subgraph.cli relay`."""
    for p in processes:
        with contextlib.suppress(psutil.Error):
            command = p.cmdline()
            if "subgraph.cli" in command and "relay" in command:
                return p
    return None


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of one process (from /proc/<pid>/stat)."""
    times = process.cpu_times()
    return float(times.user + times.system)


class RelayWatcher:
    """Samples the outbox backlog and consumes events on a thread of its own."""

    def __init__(self, dsn: str, amqp_url: str | None) -> None:
        self._dsn = dsn
        self._amqp_url = amqp_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stop = asyncio.Event()
        self.backlog: list[tuple[float, int]] = []
        self._arrivals: list[tuple[datetime, bytes]] = []  # (received at, body)
        self.consumer_error: str | None = None
        self.table: str | None = None

    def __enter__(self) -> RelayWatcher:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        # Two connections: the backlog sampler and the end-of-cell lag query run side by side.
        self._db = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2)
        self.table = await self._db.fetchval(FIND_OUTBOX)
        self._sampler = asyncio.ensure_future(self._sample())
        self._amqp: Any = None
        if self._amqp_url:
            try:
                await self._consume(self._amqp_url)
            except Exception as error:  # noqa: BLE001 - reported, the cell goes on
                self.consumer_error = f"{type(error).__name__}: {error}"

    async def _consume(self, url: str) -> None:
        import aio_pika

        self._amqp = await aio_pika.connect(url, timeout=10)
        channel = await self._amqp.channel()
        # The contract's exchange (contract/events.md): topic, durable.
        exchange = await channel.declare_exchange(
            "orders", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="order.#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            # Only the arrival is noted here: parsing and acking each event cost this process
            # (and RabbitMQ) CPU the service then lacked, 16% of a core at 716 events/s.
            self._arrivals.append((datetime.now(UTC), message.body))

        await queue.consume(on_message, no_ack=True)

    async def _sample(self) -> None:
        while self.table:
            count = await self._db.fetchval(
                f'SELECT count(*) FROM "{self.table}" WHERE published_at IS NULL'
            )
            self.backlog.append((time.monotonic(), int(count)))
            await asyncio.sleep(0.5)

    async def _close(self) -> None:
        self._sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sampler
        if self._amqp is not None:
            await self._amqp.close()
        await self._db.close()

    def outbox_lags(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Rows created in [start, end): how many, how many published, lag percentiles (ms)."""
        if not self.table:
            return {"rows": 0, "published": 0}
        sql = (
            "SELECT count(*) AS rows, count(published_at) AS published, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
            "published_at - created_at)) * 1000 AS p50, "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "
            "published_at - created_at)) * 1000 AS p99 "
            f'FROM "{self.table}" WHERE created_at >= $1 AND created_at < $2'
        )
        future = asyncio.run_coroutine_threadsafe(self._db.fetchrow(sql, start, end), self._loop)
        row = future.result(timeout=60)
        return {k: (float(v) if v is not None else None) for k, v in dict(row).items()}

    def consumer_lags(self, start: datetime, end: datetime) -> list[float]:
        """Lag (ms) of each event that occurred in [start, end), from its `occurred_at`."""
        lags = []
        for received, body in list(self._arrivals):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                occurred = datetime.fromisoformat(json.loads(body)["occurred_at"])
                if start <= occurred < end:
                    lags.append((received - occurred).total_seconds() * 1000)
        return lags

    def published_between(self, start: datetime, end: datetime) -> int:
        """Rows the relay marked published in [start, end)."""
        if not self.table:
            return 0
        sql = f'SELECT count(*) FROM "{self.table}" WHERE published_at >= $1 AND published_at < $2'
        future = asyncio.run_coroutine_threadsafe(self._db.fetchval(sql, start, end), self._loop)
        return int(future.result(timeout=60))

    def wait_drained(self, after: float, timeout: float = DRAIN_TIMEOUT_SECONDS) -> bool:
        """Wait until a backlog sample taken after `after` (monotonic) is 0; False on timeout.

        Polls the sampler's own samples (every 0.5 s): a bench helper, not a test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            samples = [n for at, n in list(self.backlog) if at > after]
            if samples and samples[-1] == 0:
                return True
            time.sleep(0.25)
        return False

    def max_backlog(self, since: float, until: float) -> int | None:
        seen = [n for at, n in list(self.backlog) if since <= at <= until]
        return max(seen) if seen else None

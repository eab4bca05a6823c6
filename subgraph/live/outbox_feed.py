"""The live feed of one worker: committed outbox rows, read in id order, handed to the hub.

Every change commits one outbox row in the same transaction (`persistence.outbox`), so the
outbox is the log of committed changes: a rolled-back change never has a visible row. Each
worker tails it on its own, with one statement per round whatever the number of subscribers:

- a round reads the rows after the last one seen (by primary key) and publishes them to the
  hub in id order; an order's rows are written in commit order (a change locks its order row),
  so its events arrive in commit order;
- a round starts on PostgreSQL's NOTIFY (the outbox trigger notifies at commit, on a LISTEN
  connection of this worker), on a commit made by this process (SQLite), or after
  `poll_seconds` at the latest (a lost LISTEN connection, other processes on SQLite);
- on PostgreSQL ids are taken before commit, so a lower id can become visible after a higher
  one. An id skipped by a round is a *hole*: the next rounds read again from the oldest hole
  until its row appears or `hole_seconds` pass (its transaction rolled back, or took its id
  and failed), and rows already delivered are not delivered twice.

The broker is not involved: a RabbitMQ outage changes nothing for subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.engine.base import Engine

from subgraph.live.hub import Change, Hub, change_from_payload
from subgraph.messaging.publisher.wakeups import Polling, PostgresNotifications, Wakeups
from subgraph.persistence import commits
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.sql import fetch

logger = logging.getLogger("subgraph.live")

ROUND_LIMIT = 1000
MAX_HOLES = 10_000  # a wider jump in ids is not waited for
_AFTER = f"SELECT id, payload FROM order_outbox WHERE id > {{}} ORDER BY id LIMIT {ROUND_LIMIT}"  # noqa: S608 - a constant
_LAST = "SELECT COALESCE(MAX(id), 0) AS last FROM order_outbox"


@dataclass(frozen=True)
class FeedOptions:
    poll_seconds: float = 1.0
    gather_seconds: float = 0.005  # pause after a wake-up, so one round takes a burst
    idle_gather_seconds: float = 0.5  # the same with no subscriber: keep up, cheaply
    hole_seconds: float = 10.0


class OutboxFeed:
    """Tails `order_outbox` for one hub until stopped."""

    def __init__(
        self,
        engine: Engine[Any],
        hub: Hub,
        *,
        options: FeedOptions,
        dsn: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.options = options
        self.clock = clock
        self._dsn = dsn if dsn and is_postgres(engine) else None
        self._wakeups: Wakeups = PostgresNotifications(self._dsn) if self._dsn else Polling()
        self._woken = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last = 0  # every id up to this one is delivered or given up
        self._holes: dict[int, float] = {}  # id -> when first missed
        self._settled: set[int] = set()  # ids above `_last` delivered or given up
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Begin after the newest committed row; returns once the feed is positioned."""
        rows = await fetch(self.engine, _LAST)
        self._last = int(rows[0]["last"])
        commits.add_listener(self.wake)
        self.hub.on_first_subscriber = self.wake
        self._task = asyncio.create_task(self._run(), name="orders-live-feed")
        self.ready.set()

    async def stop(self) -> None:
        self._stop.set()
        self._woken.set()
        commits.remove_listener(self.wake)
        self.hub.on_first_subscriber = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._wakeups.close()

    async def newest(self) -> int:
        """The newest committed outbox position: where a subscription starting now begins."""
        rows = await fetch(self.engine, _LAST)
        return int(rows[0]["last"])

    def wake(self) -> None:
        self._woken.set()

    async def _run(self) -> None:
        notifications = asyncio.ensure_future(self._listen())
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    await self.round()
                    failures = 0
                except Exception as error:  # noqa: BLE001 - the database may be away; retry
                    failures += 1
                    logger.warning("live feed: round failed (%s)", type(error).__name__)
                    await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                    continue
                await self._pause()
        finally:
            notifications.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await notifications

    async def _listen(self) -> None:
        """Turn NOTIFYs (or poll intervals) into wake-ups."""
        while not self._stop.is_set():
            await self._wakeups.wait(self.options.poll_seconds)
            self._woken.set()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.poll_seconds):
                await self._woken.wait()
        gather = (
            self.options.gather_seconds
            if self.hub.subscriptions or self._holes
            else self.options.idle_gather_seconds
        )
        # Cleared before the round reads, so a commit during the round wakes the next one.
        if gather > 0 and not self._stop.is_set():
            await asyncio.sleep(gather)
        self._woken.clear()

    async def round(self) -> int:
        """Read and publish what was committed since the last round; how many changes."""
        published = 0
        while True:
            rows = await fetch(self.engine, _AFTER, self._last)
            if not rows and not published and await self._notice_reset():
                continue
            published += self._take(rows)
            if len(rows) < ROUND_LIMIT:
                return published

    async def _notice_reset(self) -> bool:
        """Start over when the table's ids were reset (TRUNCATE ... RESTART IDENTITY)."""
        rows = await fetch(self.engine, _LAST)
        last = int(rows[0]["last"])
        if last >= self._last:
            return False
        logger.info("live feed: outbox ids went back from %d to %d", self._last, last)
        self._last = 0
        self._holes.clear()
        self._settled.clear()
        return True

    def _take(self, rows: Sequence[Mapping[str, Any]]) -> int:
        now = self.clock()
        published = 0
        expected = self._last + 1
        for row in rows:
            row_id = int(row["id"])
            if row_id - expected <= MAX_HOLES:
                for missing in range(expected, row_id):
                    if missing not in self._settled:
                        self._holes.setdefault(missing, now)
            expected = max(expected, row_id + 1)
            if row_id in self._settled:
                continue
            self._holes.pop(row_id, None)
            self._settled.add(row_id)
            published += 1
            try:
                change: Change = change_from_payload(row["payload"], position=row_id)
            except (ValueError, KeyError, TypeError) as error:
                logger.error("live feed: unreadable outbox row %d: %s", row_id, error)
                continue
            self.hub.publish(change)
        # Give up holes older than hole_seconds, then move `_last` up to the oldest hole left.
        for hole, since in list(self._holes.items()):
            if now - since > self.options.hole_seconds:
                del self._holes[hole]
                self._settled.add(hole)
        top = max(self._settled, default=self._last)
        self._last = min(self._holes) - 1 if self._holes else max(top, self._last)
        self._settled = {i for i in self._settled if i > self._last}
        return published

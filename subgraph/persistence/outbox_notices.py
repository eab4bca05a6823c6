"""One NOTIFY per burst of this process's outbox commits, instead of one per commit.

The relay (and each worker's live feed) LISTENs on `order_outbox`. The outbox trigger used to
notify for every committed change; under placeOrder load that was 1,300 NOTIFYs a second,
each queued under a database-wide lock at commit and delivered to every listener, about a
third of PostgreSQL's CPU per placement. Connections made with `SILENT_OUTBOX_TRIGGER` keep
the trigger silent (the outbox migration of 2026-12-07T23:00), and this process sends
the notice itself, after its commits: the first commit after a quiet spell at once, then at
most one per `interval` while commits keep coming. A listener learns of every row at most
`interval` (plus a round trip) after its commit; a NOTIFY lost to a database blip costs the
listeners one poll interval, as a lost LISTEN connection always has.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any

from piccolo.engine.base import Engine

from subgraph.persistence import commits
from subgraph.persistence.sql import fetch

logger = logging.getLogger("subgraph.persistence")

CHANNEL = "order_outbox"  # the channel the relay and the live feeds LISTEN on
# What a connection starts with to keep the outbox trigger silent (its NOTIFYs come from here).
SILENT_OUTBOX_TRIGGER = {"orders.outbox_notify": "off"}
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
STOP_NOTICE_SECONDS = 1.0


class OutboxNotices:
    """Sends the coalesced NOTIFY for this process's commits, while started."""

    def __init__(self, engine: Engine[Any], interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self.sent = 0  # NOTIFYs sent
        self._task: asyncio.Task[None] | None = None
        self._owed = False  # a commit since the last NOTIFY went out

    def start(self) -> None:
        commits.add_listener(self.committed)

    async def stop(self) -> None:
        """Stop listening; a notice still owed is sent first (the pool must still be open)."""
        commits.remove_listener(self.committed)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._owed:
            self._owed = False
            # Bounded: with the database away, shutting down must not wait on it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_NOTICE_SECONDS):
                    await self._notify()

    def committed(self) -> None:
        """A commit of this process wrote outbox rows (called right after it)."""
        self._owed = True
        if self._task is None:
            # An empty context: the notice belongs to no request's transaction or trace.
            self._task = asyncio.get_running_loop().create_task(
                self._send(), name="orders-outbox-notify", context=contextvars.Context()
            )

    async def _send(self) -> None:
        try:
            while self._owed:
                self._owed = False
                try:
                    await self._notify()
                except asyncio.CancelledError:
                    self._owed = True  # `stop` sends it
                    raise
                await asyncio.sleep(self.interval)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _notify(self) -> None:
        try:
            await fetch(self.engine, _NOTIFY)
        except Exception as error:  # noqa: BLE001 - the listeners' poll covers a lost notice
            logger.debug("outbox NOTIFY failed (%s)", type(error).__name__)
            return
        self.sent += 1

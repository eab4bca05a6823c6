"""When the relay looks at the outbox again: on a PostgreSQL NOTIFY, or after a poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import asyncpg

logger = logging.getLogger("subgraph.messaging.relay")

CHANNEL = "order_outbox"  # the trigger in the outbox migration notifies this channel
RECONNECT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 5.0


class Wakeups(Protocol):
    async def wait(self, seconds: float) -> None:
        """Return when new events may be waiting, or after `seconds` at the latest."""

    def clear(self) -> None:
        """Forget the notices so far: the claim that follows reads what they announced."""

    def pending(self) -> bool:
        """Whether new events may have come since `clear` (True when it cannot tell)."""

    async def close(self) -> None: ...


class Polling:
    """No notifications (SQLite): look again after every interval."""

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def clear(self) -> None:
        return None

    def pending(self) -> bool:
        return True  # no notices: anything may have come

    async def close(self) -> None:
        return None


class PostgresNotifications:
    """LISTEN on a dedicated asyncpg connection (Piccolo has no LISTEN API).

    Polling stays the fallback: the wait is always bounded, and a lost connection is
    re-established at most every RECONNECT_SECONDS, meanwhile the relay just polls.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._event = asyncio.Event()
        self._connection: Any = None
        self._retry_at = 0.0

    async def wait(self, seconds: float) -> None:
        await self._listen()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        # Cleared before the next round reads the outbox, so a NOTIFY arriving during that
        # round sets it again and is not lost.
        self._event.clear()

    def clear(self) -> None:
        # Right before a claim: a NOTIFY that came during the gather pause announced a row the
        # claim reads anyway. Left set, it would cost an empty claim after every burst; one
        # that arrives after this sets it again, so none is lost.
        self._event.clear()

    def pending(self) -> bool:
        # Not listening (the connection is lost or not made yet): as blind as polling.
        listening = self._connection is not None and not self._connection.is_closed()
        return self._event.is_set() or not listening

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=CONNECT_TIMEOUT_SECONDS)

    async def _listen(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            return
        try:
            connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
            await connection.add_listener(CHANNEL, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._retry_at = loop.time() + RECONNECT_SECONDS
            logger.warning("outbox LISTEN unavailable (%s); polling", type(error).__name__)
            return
        self._connection = connection
        # Rows committed while nobody listened would otherwise wait for the next poll.
        self._event.set()

    def _notified(self, *_: object) -> None:
        self._event.set()

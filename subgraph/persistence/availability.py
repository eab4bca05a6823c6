"""Whether the database is there: one classification of driver failures, and what waits on it.

- `is_unavailable(error)` is the one place that decides that a driver error means "the
  database could not be reached or stopped answering" rather than "this statement is wrong".
- `translated()` turns such an error into `ports.StorageUnavailable` (the API answers
  SERVICE_UNAVAILABLE, retryable); anything else passes through untouched.
- `Availability` (one per engine) probes the database with a bounded `SELECT 1`: the
  readiness endpoint asks it (answers cached briefly), and reads that lost their connection
  wait on it, all on one probe at a time, until the database answers or their budget ends.
- `ResilientReads` wraps the app's reader: a read whose connection dies is run once more on a
  fresh connection once the database answers, within `DB_READ_RETRY_BUDGET_SECONDS` of its
  start. A read inside a transaction is never retried (its transaction is gone with the
  connection); writes never are (see `unit_of_work`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from subgraph.domain.order import Order, StatusChange
from subgraph.ports import OrderFilter, OrderReader, Parent, StorageUnavailable

logger = logging.getLogger("subgraph.persistence")

T = TypeVar("T")

# The first pause between two probes of a database that does not answer, and the longest.
PROBE_BACKOFF_START = 0.05
PROBE_BACKOFF_MAX = 1.0

# asyncpg's errors that mean the connection or the server went away, whatever the statement.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE 08xxx, ConnectionDoesNotExistError
    asyncpg.OperatorInterventionError,  # 57xxx: AdminShutdown, CannotConnectNow, QueryCanceled
    asyncpg.TooManyConnectionsError,
    asyncpg.InternalClientError,  # a killed postmaster's FATAL arriving on an idle connection
    OSError,  # refused, reset, unreachable; TimeoutError (connect, statement) is one too
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is unreachable or stopped answering (not a bad query)."""
    if isinstance(error, (StorageUnavailable, *_UNAVAILABLE)):
        return True
    # "cannot call Connection.fetch(): connection is closed", "pool is closing"
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error)
        return "closed" in text or "closing" in text
    return False


def unavailable(error: BaseException, what: str) -> StorageUnavailable:
    """The StorageUnavailable that replaces `error`, naming `what` failed and how."""
    if isinstance(error, StorageUnavailable):
        return error
    return StorageUnavailable(f"{what}: database unavailable ({type(error).__name__})")


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Inside: a driver error that `is_unavailable` raises as StorageUnavailable instead."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise unavailable(error, what) from error
        raise


async def answer_within(seconds: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError after `seconds` without waiting for its clean-up.

    A statement cancelled on a silent connection still waits for the driver's cancellation
    (bounded by the statement timeout) before its connection goes back to the pool; an answer
    that must be quick (readiness) does not wait for that, the work finishes in the background.
    """
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise TimeoutError(f"no answer within {seconds} s")
    return task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class Availability:
    """The database as this process sees it: probed with `SELECT 1`, one probe at a time."""

    def __init__(
        self,
        engine: Engine[Any],
        *,
        probe_timeout: float = 1.0,
        cache_seconds: float = 0.25,
    ) -> None:
        self.engine = engine
        self.probe_timeout = probe_timeout
        self.cache_seconds = cache_seconds
        self.started = False  # the pool is open and migrations ran (see `startup`)
        self._last: tuple[float, bool] | None = None
        self._probing: asyncio.Task[bool] | None = None
        self._outage_logged = False
        self._expiring: asyncio.Future[None] | None = None

    async def probe(self) -> bool:
        """Whether the database answers `SELECT 1` within `probe_timeout`; concurrent callers
        share one probe, and an answer younger than `cache_seconds` is reused."""
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.cache_seconds:
            return last[1]
        task = self._probing
        if task is None or task.done():
            task = self._probing = asyncio.ensure_future(self._probe_once())
        # A statement cancelled on a silent connection can hold its task past the timeout
        # (the driver waits on the cancellation): the caller's answer does not wait for it.
        done, _ = await asyncio.wait({task}, timeout=self.probe_timeout + 0.1)
        return task.result() if done else False

    async def _probe_once(self) -> bool:
        from subgraph.persistence.sql import fetch

        try:
            async with asyncio.timeout(self.probe_timeout):
                await fetch(self.engine, "SELECT 1")
        except Exception as error:  # noqa: BLE001 - any failure is "not answering"
            if is_unavailable(error):
                self._expire_pool()
            else:
                logger.warning("database probe failed: %s", type(error).__name__)
            answered = False
        else:
            answered = True
        self._last = (time.monotonic(), answered)
        return answered

    def connection_lost(self) -> None:
        """A statement failed for want of a connection: the pool's others are suspect too
        (a restart or a kill ends them all), so each is replaced before its next use."""
        self._last = None
        self._expire_pool()
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning("database connection lost; reads wait for it and retry once")

    def _expire_pool(self) -> None:
        pool = getattr(self.engine, "pool", None)
        if isinstance(self.engine, PostgresEngine) and pool is not None:
            # A coroutine that only bumps the pool's generation: it has run before any retry.
            self._expiring = asyncio.ensure_future(pool.expire_connections())

    async def wait(self, deadline: float) -> bool:
        """Probe with backoff until the database answers (True) or `deadline` passes (False)."""
        pause = PROBE_BACKOFF_START
        while True:
            if await self.probe():
                if self._outage_logged:
                    self._outage_logged = False
                    logger.warning("database answers again")
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, PROBE_BACKOFF_MAX)


class ResilientReads:
    """An `OrderReader` whose reads ride over a lost connection (see the module docstring)."""

    def __init__(
        self,
        reads: OrderReader,
        availability: Availability,
        *,
        budget_seconds: float,
        attempt_seconds: float,
    ) -> None:
        self.reads = reads
        self.availability = availability
        self.budget = budget_seconds
        # One attempt: taking a connection (connecting it if need be) and the statement.
        self.attempt_seconds = attempt_seconds

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        return await self._read("orders by id", lambda: self.reads.get_many(order_ids))

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        return await self._read(
            "a page of orders", lambda: self.reads.list(where, limit=limit, offset=offset)
        )

    async def pages_of(
        self,
        parent: Parent,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        return await self._read(
            "pages of orders",
            lambda: self.reads.pages_of(parent, parent_ids, where, limit=limit, offset=offset),
        )

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        return await self._read("order history", lambda: self.reads.history(order_ids))

    async def _read(self, what: str, read: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.attempt_seconds):
                return await read()
        except Exception as error:
            if not is_unavailable(error):
                raise
            in_transaction = self.availability.engine.transaction_exists()
            self.availability.connection_lost()
            if in_transaction or self.budget <= 0:
                raise unavailable(error, what) from error
            if not await self.availability.wait(started + self.budget):
                raise unavailable(error, what) from error
        with translated(what):
            async with asyncio.timeout(self.attempt_seconds):
                return await read()

"""One transaction per use case: the changes and the events they recorded commit together."""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from subgraph.domain.errors import ConcurrentModification
from subgraph.domain.order import Order
from subgraph.persistence import commits
from subgraph.persistence.availability import is_unavailable, translated, unavailable
from subgraph.persistence.change import change_in_one_statement
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.inbox import ProcessedMessages
from subgraph.persistence.outbox import write_events
from subgraph.persistence.placement import place_in_one_statement
from subgraph.persistence.transactions import abandon
from subgraph.persistence.writes import OrderWrites
from subgraph.ports import KeyedPlacement

# Taking a pooled connection and starting the transaction, unless the app says otherwise.
DEFAULT_ACQUIRE_TIMEOUT = 5.0


class UnitOfWork:
    """`async with uow:` opens a transaction; leaving it normally writes the events recorded by
    every order that `orders` stored in it to the outbox and commits, an exception rolls
    everything back.

    A lost or silent database anywhere (taking a connection, BEGIN, a statement, COMMIT) leaves
    as `StorageUnavailable`, and the connection goes back to the pool (closed) whatever
    happened: nothing is retried here, as a COMMIT whose answer was lost may have committed.
    """

    def __init__(
        self, engine: Engine[Any], *, acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT
    ) -> None:
        self.engine = engine
        self.acquire_timeout = acquire_timeout
        self._stored: list[Order] = []
        self.orders = OrderWrites(engine, self._stored.append)
        self.inbox = ProcessedMessages(engine)
        self._transaction: Any = None

    async def place(
        self,
        order: Order,
        *,
        placed_by: str,
        idempotency_key: str | None,
        request: str | None,
        event_id: str,
        now: datetime,
    ) -> Order | KeyedPlacement:
        """See `subgraph.ports.UnitOfWork.place`: one statement on PostgreSQL, steps on SQLite.

        A lost connection is StorageUnavailable; the one statement either committed or did not,
        and a retry with the same key finds out which.
        """
        if is_postgres(self.engine):
            with translated("placing an order"):
                placed = await place_in_one_statement(
                    self.engine,
                    order,
                    placed_by=placed_by,
                    idempotency_key=idempotency_key,
                    request=request,
                    event_id=event_id,
                    now=now,
                )
            if placed is not None:
                if not isinstance(placed, KeyedPlacement):
                    commits.committed()  # live updates: this process's feed reads it at once
                return placed
        else:
            if idempotency_key is not None:
                earlier = await self.orders.find_by_idempotency_key(placed_by, idempotency_key)
                if earlier is not None:
                    return earlier
            async with self:
                stored = await self.orders.add(
                    order, placed_by=placed_by, idempotency_key=idempotency_key, request=request
                )
                if stored is not None:
                    stored.record_placed(event_id=event_id, now=now)
                    return stored
        # A racing placement with the same key won; its order is the answer.
        assert idempotency_key is not None
        winner = await self.orders.find_by_idempotency_key(placed_by, idempotency_key)
        assert winner is not None, "the conflicting order is committed before ours resumes"
        return winner

    async def change(self, order: Order) -> bool:
        """See `subgraph.ports.UnitOfWork.change`: one statement on PostgreSQL (the version
        check, the history and the events in it), a transaction of steps on SQLite.

        A lost connection is StorageUnavailable; the one statement either committed or did not.
        """
        if is_postgres(self.engine):
            with translated("changing an order"):
                changed = await change_in_one_statement(self.engine, order)
            if not changed:
                return False
            order.version += 1
            order.new_history.clear()
            written = bool(order.events)
            order.events.clear()
            if written:
                commits.committed()  # live updates: this process's feed reads it at once
            return True
        try:
            async with self:
                await self.orders.save(order)
        except ConcurrentModification:
            return False
        return True

    async def __aenter__(self) -> Self:
        if isinstance(self.engine, SQLiteEngine):
            # IMMEDIATE takes the write lock up front, so two SQLite writers queue instead of
            # failing with "database is locked" when both try to upgrade a read lock.
            transaction: Any = self.engine.transaction(transaction_type=TransactionType.immediate)
        else:
            transaction = self.engine.transaction()
        try:
            with translated("starting a transaction"):
                async with asyncio.timeout(self.acquire_timeout):
                    await transaction.__aenter__()
        except BaseException:
            await abandon(self.engine, transaction)
            raise
        self._transaction = transaction
        self._stored.clear()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction = self._transaction
        self._transaction = None
        assert transaction is not None
        written = False
        try:
            if exc is None:
                # An order stored twice (saved, then deleted) is written once: its events
                # list holds everything it recorded.
                unique = {id(order): order for order in self._stored}.values()
                events = [e for o in unique for e in o.events]
                await write_events(self.engine, events)
                written = bool(events)
        except BaseException as error:
            await self._end(transaction, error)
            raise
        await self._end(transaction, exc)
        if exc is None:
            for order in self._stored:
                order.events.clear()
            # --- live updates (issue 17): this process's feed reads the new rows at once.
            if written:
                commits.committed()
        self._stored.clear()

    async def _end(self, transaction: Any, exc: BaseException | None) -> None:
        """Commit (no `exc`) or roll back; a failure to do either, or a lost connection in the
        body, is StorageUnavailable, with the connection released."""
        try:
            await transaction.__aexit__(type(exc) if exc else None, exc, None)
        except BaseException as error:
            await abandon(self.engine, transaction)
            cause = exc if exc is not None and is_unavailable(exc) else error
            if isinstance(error, Exception) and is_unavailable(error):
                what = "committing" if exc is None else "rolling back"
                raise unavailable(error, what) from cause
            raise
        if exc is not None and isinstance(exc, Exception) and is_unavailable(exc):
            raise unavailable(exc, "a write") from exc

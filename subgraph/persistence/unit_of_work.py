"""One transaction per use case: the changes and the events they recorded commit together."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from subgraph.domain.order import Order
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.inbox import ProcessedMessages
from subgraph.persistence.outbox import write_events
from subgraph.persistence.placement import place_in_one_statement
from subgraph.persistence.writes import OrderWrites
from subgraph.ports import KeyedPlacement


class UnitOfWork:
    """`async with uow:` opens a transaction; leaving it normally writes the events recorded by
    every order that `orders` stored in it to the outbox and commits, an exception rolls
    everything back."""

    def __init__(self, engine: Engine[Any]) -> None:
        self.engine = engine
        self._stored: list[Order] = []
        self.orders = OrderWrites(engine, self._stored.append)
        self.inbox = ProcessedMessages(engine)
        self._transaction: object | None = None

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
        """See `subgraph.ports.UnitOfWork.place`: one statement on PostgreSQL, steps on SQLite."""
        if is_postgres(self.engine):
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

    async def __aenter__(self) -> UnitOfWork:
        if isinstance(self.engine, SQLiteEngine):
            # IMMEDIATE takes the write lock up front, so two SQLite writers queue instead of
            # failing with "database is locked" when both try to upgrade a read lock.
            transaction = self.engine.transaction(transaction_type=TransactionType.immediate)
        else:
            transaction = self.engine.transaction()
        self._transaction = transaction
        await transaction.__aenter__()
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
        try:
            if exc is None:
                # An order stored twice (saved, then deleted) is written once: its events
                # list holds everything it recorded.
                unique = {id(order): order for order in self._stored}.values()
                await write_events(self.engine, [e for o in unique for e in o.events])
        except BaseException as error:
            await transaction.__aexit__(type(error), error, error.__traceback__)  # type: ignore[attr-defined]
            raise
        await transaction.__aexit__(exc_type, exc, tb)  # type: ignore[attr-defined]
        if exc is None:
            for order in self._stored:
                order.events.clear()
        self._stored.clear()

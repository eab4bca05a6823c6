"""One transaction per use case: the changes and the events they recorded commit together."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from subgraph.domain.order import Order
from subgraph.persistence import commits
from subgraph.persistence.inbox import ProcessedMessages
from subgraph.persistence.outbox import write_events
from subgraph.persistence.writes import OrderWrites


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
            await transaction.__aexit__(type(error), error, error.__traceback__)  # type: ignore[attr-defined]
            raise
        await transaction.__aexit__(exc_type, exc, tb)  # type: ignore[attr-defined]
        if exc is None:
            for order in self._stored:
                order.events.clear()
            # --- live updates (issue 17): this process's feed reads the new rows at once.
            if written:
                commits.committed()
        self._stored.clear()

"""One transaction per use case: the change and the events it recorded commit together."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from subgraph.domain.order import Order
from subgraph.persistence.inbox import ProcessedMessages
from subgraph.persistence.repository import OrderRepository


class UnitOfWork:
    """`async with uow:` opens a transaction; leaving it normally commits the changes and the
    outbox rows of every order passed to `collect`, an exception rolls everything back."""

    def __init__(self, engine: Engine[Any]) -> None:
        self.engine = engine
        self.orders = OrderRepository()
        self.inbox = ProcessedMessages()
        self._seen: list[Order] = []
        self._transaction: object | None = None

    def collect(self, order: Order) -> None:
        """Have this order's recorded events written to the outbox at commit."""
        self._seen.append(order)

    async def __aenter__(self) -> UnitOfWork:
        if isinstance(self.engine, SQLiteEngine):
            # IMMEDIATE takes the write lock up front, so two SQLite writers queue instead of
            # failing with "database is locked" when both try to upgrade a read lock.
            transaction = self.engine.transaction(transaction_type=TransactionType.immediate)
        else:
            transaction = self.engine.transaction()
        self._transaction = transaction
        await transaction.__aenter__()
        self._seen = []
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
                for order in self._seen:
                    await self.orders.add_to_outbox(order.events)
        except BaseException as error:
            await transaction.__aexit__(type(error), error, error.__traceback__)  # type: ignore[attr-defined]
            raise
        await transaction.__aexit__(exc_type, exc, tb)  # type: ignore[attr-defined]
        if exc is None:
            for order in self._seen:
                order.events.clear()

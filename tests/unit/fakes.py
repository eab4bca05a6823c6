"""In-memory fakes of the storage ports, for unit tests of the use cases: no database at all."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from subgraph.domain.errors import ConcurrentModification
from subgraph.domain.events import OrderEvent
from subgraph.domain.order import Order, StatusChange
from subgraph.ports import KeyedPlacement, OrderFilter, Parent


@dataclass
class Storage:
    """What a database would hold: orders, their history, the outbox and the inbox."""

    orders: dict[int, Order] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[int, str | None]] = field(default_factory=dict)
    history: dict[int, list[StatusChange]] = field(default_factory=dict)
    outbox: list[OrderEvent] = field(default_factory=list)
    processed: set[str] = field(default_factory=set)
    next_id: int = 1


def _matches(order: Order, where: OrderFilter) -> bool:
    return (
        (where.status is None or order.status is where.status)
        and (where.user_id is None or order.user_id == where.user_id)
        and (where.product_id is None or order.product_id == where.product_id)
    )


class FakeReads:
    """`OrderReader` over a Storage; copies out, so callers cannot change what is stored."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        orders = self.storage.orders
        return {i: copy.deepcopy(orders[i]) for i in order_ids if i in orders}

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        newest = sorted(self.storage.orders.values(), key=lambda o: o.id or 0, reverse=True)
        found = [copy.deepcopy(o) for o in newest if _matches(o, where)]
        return found[offset : offset + limit]

    async def pages_of(
        self,
        parent: Parent,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        pages = {}
        for parent_id in parent_ids:
            narrowed = (
                OrderFilter(where.status, parent_id, where.product_id)
                if parent is Parent.USER
                else OrderFilter(where.status, where.user_id, parent_id)
            )
            page = await self.list(narrowed, limit=limit, offset=offset)
            if page:
                pages[parent_id] = page
        return pages

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        return {i: list(self.storage.history[i]) for i in order_ids if i in self.storage.history}


class FakeWrites:
    def __init__(self, unit: FakeUnitOfWork) -> None:
        self.unit = unit

    @property
    def storage(self) -> Storage:
        return self.unit.storage

    async def get(self, order_id: int) -> Order | None:
        order = self.storage.orders.get(order_id)
        return copy.deepcopy(order) if order else None

    async def find_by_idempotency_key(self, placed_by: str, key: str) -> KeyedPlacement | None:
        keyed = self.storage.keys.get((placed_by, key))
        if keyed is None:
            return None
        order_id, request = keyed
        order = await self.get(order_id)
        return KeyedPlacement(order, request) if order is not None else None

    async def add(
        self,
        order: Order,
        *,
        placed_by: str,
        idempotency_key: str | None,
        request: str | None = None,
    ) -> Order | None:
        if idempotency_key is not None and (placed_by, idempotency_key) in self.storage.keys:
            return None
        stored = order.stored(id=self.storage.next_id)
        self.storage.next_id += 1
        if idempotency_key is not None:
            self.storage.keys[(placed_by, idempotency_key)] = (stored.id or 0, request)
        self._keep(stored)
        return stored

    async def save(self, order: Order) -> None:
        assert order.id is not None
        current = self.storage.orders.get(order.id)
        if current is None or current.version != order.version:
            raise ConcurrentModification(order.id)
        order.version += 1
        self._keep(order)

    async def delete(self, order: Order) -> None:
        assert order.id is not None
        self.storage.orders.pop(order.id, None)
        self.storage.history.pop(order.id, None)
        self.unit.stored.append(order)

    def _keep(self, order: Order) -> None:
        assert order.id is not None
        self.storage.history.setdefault(order.id, []).extend(order.new_history)
        order.new_history.clear()
        self.storage.orders[order.id] = copy.deepcopy(order)
        self.unit.stored.append(order)


class FakeInbox:
    def __init__(self, unit: FakeUnitOfWork) -> None:
        self.unit = unit

    async def record(self, event_id: str, *, now: datetime) -> bool:
        if event_id in self.unit.storage.processed:
            return False
        self.unit.storage.processed.add(event_id)
        return True


class FakeUnitOfWork:
    """A transaction over a Storage: a snapshot is restored on error; on success the events of
    every stored order go to the outbox, as the real unit of work does."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.stored: list[Order] = []
        self.commits = 0
        self._orders = FakeWrites(self)
        self._inbox = FakeInbox(self)
        self._before: Storage | None = None

    @property
    def orders(self) -> FakeWrites:
        return self._orders

    @property
    def inbox(self) -> FakeInbox:
        return self._inbox

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
        if idempotency_key is not None:
            earlier = await self.orders.find_by_idempotency_key(placed_by, idempotency_key)
            if earlier is not None:
                return earlier
        async with self:
            stored = await self.orders.add(
                order, placed_by=placed_by, idempotency_key=idempotency_key, request=request
            )
            assert stored is not None  # one task at a time: no race in memory
            stored.record_placed(event_id=event_id, now=now)
        return stored

    async def change(self, order: Order) -> bool:
        try:
            async with self:
                await self.orders.save(order)
        except ConcurrentModification:
            return False
        return True

    async def __aenter__(self) -> FakeUnitOfWork:
        self._before = copy.deepcopy(self.storage)
        self.stored = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._before is not None
        if exc is not None:
            vars(self.storage).update(vars(self._before))
            return
        unique = {id(order): order for order in self.stored}.values()
        self.storage.outbox.extend(e for o in unique for e in o.events)
        for order in unique:
            order.events.clear()
        self.commits += 1

"""DataLoaders: every batch of entity or list lookups becomes one SQL statement.

Each request has its own `Loaders` (they remember what its caller may see). Beneath them,
`SharedReads` lets the concurrent requests of one worker share the statements that read
orders by id and pages of a user's orders.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from weakref import WeakKeyDictionary

from piccolo.engine.base import Engine
from strawberry.dataloader import DataLoader

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.order import Order, OrderStatus, StatusChange
from subgraph.persistence.repository import OrderFilter, ParentColumn
from subgraph.persistence.unit_of_work import UnitOfWork

# (parent id, status filter, limit, offset): parents sharing the last three share a query.
PageKey = tuple[str, OrderStatus | None, int, int]

# A request's batch of at most this many keys reads through SharedReads; a larger one is its
# own statement already, and sharing would only let other requests' keys split it in two.
SHARED_MAX_KEYS = 100

# PostgreSQL accepts at most 32767 bind parameters; keep batches far below it.
MAX_BATCH = 1000


class SharedReads:
    """Orders by id, and pages of users' orders, read for all the concurrent requests of a
    worker: one statement per loop step.

    A request's own loader batches what that request asks for, but under load a worker runs
    many requests at once and each still paid a round trip to PostgreSQL for its one order.
    That round trip, with the wake-ups it costs on both sides, was half of getOrder's cost:
    3,000 req/s, against 6,200 with the order made up in memory. Here the ids that any request
    asks for in the same event-loop step go into one statement.

    Nothing here belongs to a caller: rows are neither cached nor filtered, and each request
    applies its own caller's visibility to what it gets (`service.get_orders_by_ids`). A
    request inside a transaction reads through its own connection instead, so it sees its own
    writes; a batch runs in the context of the request that opened it, so that request must
    not be inside a transaction either (`Loaders._usable_shared` checks).
    """

    def __init__(self, engine: Engine[Any]) -> None:
        self._engine = engine
        # Loaders per event loop: a DataLoader is bound to the loop it first ran in.
        self._by_loop: WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedLoaders]
        self._by_loop = WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _SharedLoaders] | None = None

    async def orders_by_ids(self, ids: list[int]) -> dict[int, Order]:
        found = await self._loaders().orders.load_many(ids)
        return {i: order for i, order in zip(ids, found, strict=True) if order is not None}

    async def user_pages(
        self, user_ids: list[str], status: OrderStatus | None, limit: int, offset: int
    ) -> dict[str, list[Order]]:
        keys = [(user_id, status, limit, offset) for user_id in user_ids]
        pages = await self._loaders().user_pages.load_many(keys)
        return dict(zip(user_ids, pages, strict=True))

    def _loaders(self) -> _SharedLoaders:
        loop = asyncio.get_running_loop()
        # A worker runs one loop: its loaders are kept at hand, as a WeakKeyDictionary lookup
        # makes a weak reference every time (1.5% of a getOrders). This keeps at most the
        # last loop's loaders beyond the dictionary.
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        loaders = self._by_loop.get(loop)
        if loaders is None:
            loaders = self._by_loop[loop] = _SharedLoaders(
                orders=DataLoader(self._read_orders, cache=False, max_batch_size=MAX_BATCH),
                user_pages=DataLoader(self._read_pages, cache=False, max_batch_size=MAX_BATCH),
            )
        self._last = (weakref.ref(loop), loaders)
        return loaders

    async def _read_orders(self, ids: Sequence[int]) -> list[Order | None]:
        # Requests may ask for the same order: each id once in the statement.
        found = await UnitOfWork(self._engine).orders.get_many(list(dict.fromkeys(ids)))
        return [found.get(i) for i in ids]

    async def _read_pages(self, keys: Sequence[PageKey]) -> list[list[Order]]:
        orders = UnitOfWork(self._engine).orders

        async def read(
            parent_ids: list[str], status: OrderStatus | None, limit: int, offset: int
        ) -> dict[str, list[Order]]:
            where = OrderFilter(status=status)
            return await orders.list_by_parents(
                "user_id", parent_ids, where, limit=limit, offset=offset
            )

        return await pages_by_key(keys, read)


@dataclass(frozen=True)
class _SharedLoaders:
    orders: DataLoader[int, Order | None]
    user_pages: DataLoader[PageKey, list[Order]]


PagesOfParents = Callable[
    [list[str], OrderStatus | None, int, int], Awaitable[dict[str, list[Order]]]
]


async def pages_by_key(keys: Sequence[PageKey], read: PagesOfParents) -> list[list[Order]]:
    """The page of each key; keys that differ only in their parent share one `read`."""
    by_page: dict[tuple[OrderStatus | None, int, int], list[str]] = defaultdict(list)
    for parent_id, status, limit, offset in keys:
        by_page[(status, limit, offset)].append(parent_id)
    results: dict[PageKey, list[Order]] = {}
    for (status, limit, offset), parent_ids in by_page.items():
        unique = list(dict.fromkeys(parent_ids))
        pages = await read(unique, status, limit, offset)
        for parent_id in unique:
            results[(parent_id, status, limit, offset)] = pages.get(parent_id, [])
    return [results[key] for key in keys]


class Loaders:
    """The DataLoaders of one request (never shared: they cache what this caller may see)."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        principal: Callable[[], Awaitable[Principal]],
        shared: SharedReads | None = None,
    ) -> None:
        self._uow = uow
        self._principal = principal
        self._shared = shared

    # Built on first use: most requests need one loader of the four, if any.
    @cached_property
    def order_by_id(self) -> DataLoader[str, Order | None]:
        return DataLoader(self._load_orders, max_batch_size=MAX_BATCH)

    @cached_property
    def history(self) -> DataLoader[int, list[StatusChange]]:
        return DataLoader(self._load_histories, max_batch_size=MAX_BATCH)

    @cached_property
    def orders_of_user(self) -> DataLoader[PageKey, list[Order]]:
        return DataLoader(self._pages_of("user_id"), max_batch_size=MAX_BATCH)

    @cached_property
    def orders_of_product(self) -> DataLoader[PageKey, list[Order]]:
        return DataLoader(self._pages_of("product_id"), max_batch_size=MAX_BATCH)

    def forget(self, order: Order) -> None:
        """Drop what this request cached about an order it just changed (mutations run in order,
        so a later field of the same request must see the change)."""
        if order.id is None:
            return
        built = vars(self)  # a loader never built holds nothing to forget
        # DataLoader.clear raises KeyError for keys it never loaded.
        if "order_by_id" in built:
            with suppress(KeyError):
                self.order_by_id.clear(str(order.id))
        if "history" in built:
            with suppress(KeyError):
                self.history.clear(order.id)

    def shared_user_pages(self, keys: int = 1) -> service.UserPages | None:
        """The shared read of users' pages, when this request may use it for `keys` of them
        (see SharedReads)."""
        shared = self._usable_shared(keys)
        return shared.user_pages if shared else None

    def _usable_shared(self, keys: int) -> SharedReads | None:
        """SharedReads, unless this request is inside a transaction (its reads go through its
        own connection) or reads more than SHARED_MAX_KEYS keys at once."""
        if self._shared is None or keys > SHARED_MAX_KEYS:
            return None
        if self._uow.engine.transaction_exists():
            return None
        return self._shared

    async def _load_orders(self, ids: Sequence[str]) -> list[Order | None]:
        principal = await self._principal()
        shared = self._usable_shared(len(ids))
        return await service.get_orders_by_ids(
            uow=self._uow,
            principal=principal,
            order_ids=ids,
            read=shared.orders_by_ids if shared else None,
        )

    async def _load_histories(self, ids: Sequence[int]) -> list[list[StatusChange]]:
        found = await service.histories(uow=self._uow, order_ids=ids)
        return [found.get(i, []) for i in ids]

    def _pages_of(
        self, column: ParentColumn
    ) -> Callable[[Sequence[PageKey]], Awaitable[list[list[Order]]]]:
        async def load(keys: Sequence[PageKey]) -> list[list[Order]]:
            principal = await self._principal()
            shared_pages = self.shared_user_pages(len(keys)) if column == "user_id" else None

            async def read(
                parent_ids: list[str], status: OrderStatus | None, limit: int, offset: int
            ) -> dict[str, list[Order]]:
                return await service.list_orders_of_parents(
                    uow=self._uow,
                    principal=principal,
                    column=column,
                    parent_ids=parent_ids,
                    status=status,
                    limit=limit,
                    offset=offset,
                    read_user_pages=shared_pages,
                )

            return await pages_by_key(keys, read)

        return load

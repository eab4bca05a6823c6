"""Reads shared by the concurrent requests of a worker: one statement per event-loop step.

A request's own loader batches what that request asks for, but under load a worker runs many
requests at once and each still paid a round trip to PostgreSQL for its one order. That round
trip, with the wake-ups it costs on both sides, was half of getOrder's cost: 3,000 req/s,
against 6,200 with the order made up in memory. Here the ids (and the pages of users' orders)
that any request asks for in the same event-loop step go into one statement.

Nothing here belongs to a caller: rows are neither cached nor filtered, and the use cases apply
each caller's visibility to what they get. A read inside a transaction goes through that
transaction's connection instead, so it sees its own writes; a shared batch runs in the context
of the request that opened it, so that request must not be inside a transaction either.
"""

from __future__ import annotations

import asyncio
import builtins
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from piccolo.engine.base import Engine
from strawberry.dataloader import DataLoader

from subgraph.domain.order import Order, OrderStatus, StatusChange
from subgraph.paging import PageKey, pages_by_key
from subgraph.persistence.reads import OrderReads
from subgraph.ports import OrderFilter, Parent

# A batch of at most this many keys is shared; a larger one is its own statement already, and
# sharing would only let other requests' keys split it in two.
SHARED_MAX_KEYS = 100

# PostgreSQL accepts at most 32767 bind parameters; keep batches far below it.
MAX_BATCH = 1000


class SharedOrderReads:
    """The app's `OrderReader`: orders by id and pages of users' orders are shared between
    concurrent requests when they can be (see the module's docstring); the rest is read
    directly. One per app, built once: a request allocates nothing here."""

    def __init__(self, engine: Engine[Any]) -> None:
        self.engine = engine
        self.direct = OrderReads(engine)
        # Loaders per event loop: a DataLoader is bound to the loop it first ran in.
        self._by_loop: WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedLoaders]
        self._by_loop = WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _SharedLoaders] | None = None

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        if not self._shareable(len(order_ids)):
            return await self.direct.get_many(order_ids)
        found = await self._loaders().orders.load_many(order_ids)
        return {i: o for i, o in zip(order_ids, found, strict=True) if o is not None}

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        user_id = where.user_id
        if user_id is not None and where.product_id is None and self._shareable(1):
            key = (user_id, where.status, limit, offset)
            return await self._loaders().user_pages.load(key)
        return await self.direct.list(where, limit=limit, offset=offset)

    async def pages_of(
        self,
        parent: Parent,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        only_status = where.user_id is None and where.product_id is None
        if parent is Parent.USER and only_status and self._shareable(len(parent_ids)):
            keys = [(user_id, where.status, limit, offset) for user_id in parent_ids]
            pages = await self._loaders().user_pages.load_many(keys)
            # As the direct read: a parent without orders has no entry.
            return {i: page for i, page in zip(parent_ids, pages, strict=True) if page}
        return await self.direct.pages_of(parent, parent_ids, where, limit=limit, offset=offset)

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        return await self.direct.history(order_ids)

    def _shareable(self, keys: int) -> bool:
        """Not inside a transaction (its reads go through its own connection), and not more
        than SHARED_MAX_KEYS keys at once."""
        return keys <= SHARED_MAX_KEYS and not self.engine.transaction_exists()

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

    async def _read_orders(self, ids: Sequence[int]) -> builtins.list[Order | None]:
        # Requests may ask for the same order: each id once in the statement.
        found = await self.direct.get_many(builtins.list(dict.fromkeys(ids)))
        return [found.get(i) for i in ids]

    async def _read_pages(self, keys: Sequence[PageKey]) -> builtins.list[builtins.list[Order]]:
        return await pages_by_key(keys, self._read_user_pages)

    async def _read_user_pages(
        self, user_ids: builtins.list[str], status: OrderStatus | None, limit: int, offset: int
    ) -> dict[str, builtins.list[Order]]:
        where = OrderFilter(status=status)
        return await self.direct.pages_of(Parent.USER, user_ids, where, limit=limit, offset=offset)


@dataclass(frozen=True)
class _SharedLoaders:
    orders: DataLoader[int, Order | None]
    user_pages: DataLoader[PageKey, builtins.list[Order]]

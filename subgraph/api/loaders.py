"""DataLoaders: every batch of entity or list lookups of a request becomes one use-case call.

Each request has its own `Loaders` (they remember what its caller may see). How the reads
below them reach the database, and whether concurrent requests share a statement, is the
reader's business (`persistence.shared_reads`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from functools import cached_property

from strawberry.dataloader import DataLoader

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.order import Order, OrderStatus, StatusChange
from subgraph.paging import PageKey, pages_by_key
from subgraph.ports import OrderReader, Parent

# PostgreSQL accepts at most 32767 bind parameters; keep batches far below it.
MAX_BATCH = 1000


class Loaders:
    """The DataLoaders of one request (never shared: they cache what this caller may see)."""

    def __init__(
        self, *, reads: OrderReader, principal: Callable[[], Awaitable[Principal]]
    ) -> None:
        self._reads = reads
        self._principal = principal

    # Built on first use: most requests need one loader of the four, if any.
    @cached_property
    def order_by_id(self) -> DataLoader[str, Order | None]:
        return DataLoader(self._load_orders, max_batch_size=MAX_BATCH)

    @cached_property
    def history(self) -> DataLoader[int, list[StatusChange]]:
        return DataLoader(self._load_histories, max_batch_size=MAX_BATCH)

    @cached_property
    def orders_of_user(self) -> DataLoader[PageKey, list[Order]]:
        return DataLoader(self._pages_of(Parent.USER), max_batch_size=MAX_BATCH)

    @cached_property
    def orders_of_product(self) -> DataLoader[PageKey, list[Order]]:
        return DataLoader(self._pages_of(Parent.PRODUCT), max_batch_size=MAX_BATCH)

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

    async def _load_orders(self, ids: Sequence[str]) -> list[Order | None]:
        principal = await self._principal()
        return await service.get_orders_by_ids(
            orders=self._reads, principal=principal, order_ids=ids
        )

    async def _load_histories(self, ids: Sequence[int]) -> list[list[StatusChange]]:
        found = await service.histories(orders=self._reads, order_ids=ids)
        return [found.get(i, []) for i in ids]

    def _pages_of(
        self, parent: Parent
    ) -> Callable[[Sequence[PageKey]], Awaitable[list[list[Order]]]]:
        async def load(keys: Sequence[PageKey]) -> list[list[Order]]:
            principal = await self._principal()

            async def read(
                parent_ids: list[str], status: OrderStatus | None, limit: int, offset: int
            ) -> dict[str, list[Order]]:
                return await service.list_orders_of_parents(
                    orders=self._reads,
                    principal=principal,
                    parent=parent,
                    parent_ids=parent_ids,
                    status=status,
                    limit=limit,
                    offset=offset,
                )

            return await pages_by_key(keys, read)

        return load

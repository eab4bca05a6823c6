"""Per-request DataLoaders: every batch of entity or list lookups becomes one SQL statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from functools import cached_property

from strawberry.dataloader import DataLoader

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.order import Order, OrderStatus, StatusChange
from subgraph.persistence.repository import ParentColumn
from subgraph.persistence.unit_of_work import UnitOfWork

# (parent id, status filter, limit, offset): parents sharing the last three share a query.
PageKey = tuple[str, OrderStatus | None, int, int]

# PostgreSQL accepts at most 32767 bind parameters; keep batches far below it.
MAX_BATCH = 1000


class Loaders:
    """The DataLoaders of one request (never shared: they cache what this caller may see)."""

    def __init__(self, *, uow: UnitOfWork, principal: Callable[[], Awaitable[Principal]]) -> None:
        self._uow = uow
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

    async def _load_orders(self, ids: Sequence[str]) -> list[Order | None]:
        principal = await self._principal()
        return await service.get_orders_by_ids(uow=self._uow, principal=principal, order_ids=ids)

    async def _load_histories(self, ids: Sequence[int]) -> list[list[StatusChange]]:
        found = await service.histories(uow=self._uow, order_ids=ids)
        return [found.get(i, []) for i in ids]

    def _pages_of(
        self, column: ParentColumn
    ) -> Callable[[Sequence[PageKey]], Awaitable[list[list[Order]]]]:
        async def load(keys: Sequence[PageKey]) -> list[list[Order]]:
            principal = await self._principal()
            by_page: dict[tuple[OrderStatus | None, int, int], list[str]] = defaultdict(list)
            for parent_id, status, limit, offset in keys:
                by_page[(status, limit, offset)].append(parent_id)
            results: dict[PageKey, list[Order]] = {}
            for (status, limit, offset), parent_ids in by_page.items():
                pages = await service.list_orders_of_parents(
                    uow=self._uow,
                    principal=principal,
                    column=column,
                    parent_ids=parent_ids,
                    status=status,
                    limit=limit,
                    offset=offset,
                )
                for parent_id in parent_ids:
                    results[(parent_id, status, limit, offset)] = pages.get(parent_id, [])
            return [results[key] for key in keys]

        return load

"""Pages of many parents' orders, grouped so that parents asking for the same page share a read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from subgraph.domain.order import Order, OrderStatus

# (parent id, status filter, limit, offset): parents sharing the last three share a read.
PageKey = tuple[str, OrderStatus | None, int, int]

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

"""Reading orders and their history: one statement per call, whatever the batch size.

Raw SQL on the hot read paths: building the same SELECT through Piccolo's query builder cost
~130 us of CPU per call (303 -> 169 us measured), a tenth of a getOrder.
"""

from __future__ import annotations

import builtins
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from piccolo.engine.base import Engine

from subgraph.domain.order import Order, StatusChange
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.mapping import change_from_row, order_from_row
from subgraph.persistence.sql import fetch, ids_in
from subgraph.ports import OrderFilter, Parent

# The only column names a parent becomes in SQL.
PARENT_COLUMNS = {Parent.USER: "user_id", Parent.PRODUCT: "product_id"}


class OrderReads:
    """Reads on one engine; inside a transaction of that engine they see its writes."""

    def __init__(self, engine: Engine[Any]) -> None:
        self.engine = engine
        self._postgres = is_postgres(engine)

    async def get(self, order_id: int) -> Order | None:
        rows = await fetch(self.engine, "SELECT * FROM orders WHERE id = {}", order_id)
        return order_from_row(rows[0]) if rows else None

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        if not order_ids:
            return {}
        condition, args = ids_in(self.engine, "id", order_ids)
        rows = await fetch(self.engine, f"SELECT * FROM orders WHERE {condition}", *args)
        return {int(r["id"]): order_from_row(r) for r in rows}

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        """One page, newest first."""
        clauses, values = _conditions(where)
        where_sql = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = await fetch(
            self.engine,
            f"SELECT * FROM orders {where_sql}ORDER BY id DESC LIMIT {{}} OFFSET {{}}",
            *values,
            limit,
            offset,
        )
        return [order_from_row(r) for r in rows]

    async def pages_of(
        self,
        parent: Parent,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        """A page of orders for each of many users (or products) in one statement."""
        if not parent_ids:
            return {}
        column = PARENT_COLUMNS[parent]
        filters, values = _conditions(where)
        # Only placeholders carry values; `column` is one of two literals from this module.
        if self._postgres:
            # One index range scan per parent on (column, id DESC), reading only the page, and
            # one statement text whatever the batch size (the ids travel as one array), so
            # asyncpg prepares it once. The window form below read and ranked every order of
            # every parent: 21 ms against 9 ms for 1000 users with 25 orders each.
            sql = (
                "SELECT page.* FROM unnest({}::text[]) AS parent(id) CROSS JOIN LATERAL "
                f"(SELECT * FROM orders WHERE orders.{column} = parent.id "
                + "".join(f"AND {f} " for f in filters)
                + "ORDER BY orders.id DESC LIMIT {} OFFSET {}) AS page ORDER BY page.id DESC"
            )
            args: builtins.list[Any] = [list(parent_ids), *values, limit, offset]
        else:
            # SQLite: a window function numbers each parent's orders newest first, so the page
            # is cut per parent inside the database instead of one query per parent.
            clauses = [f"{column} IN ({', '.join('{}' for _ in parent_ids)})", *filters]
            sql = (
                "SELECT * FROM (SELECT orders.*, ROW_NUMBER() OVER "
                f"(PARTITION BY {column} ORDER BY id DESC) AS page_row FROM orders "
                f"WHERE {' AND '.join(clauses)}) AS ranked "
                "WHERE page_row > {} AND page_row <= {} ORDER BY id DESC"
            )
            args = [*parent_ids, *values, offset, offset + limit]
        grouped: dict[str, builtins.list[Order]] = defaultdict(list)
        for row in await fetch(self.engine, sql, *args):
            grouped[row[column]].append(order_from_row(row))
        return grouped

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        """Each order's status changes, oldest first, in one statement."""
        if not order_ids:
            return {}
        condition, args = ids_in(self.engine, "order_id", order_ids)
        rows = await fetch(
            self.engine, f"SELECT * FROM order_status_changes WHERE {condition} ORDER BY id", *args
        )
        grouped: dict[int, builtins.list[StatusChange]] = defaultdict(list)
        for row in rows:
            grouped[int(row["order_id"])].append(change_from_row(row))
        return grouped


def _conditions(where: OrderFilter) -> tuple[builtins.list[str], builtins.list[Any]]:
    """SQL conditions with `{}` placeholders, and their values in order."""
    pairs = (
        ("status", where.status.value if where.status is not None else None),
        ("user_id", where.user_id),
        ("product_id", where.product_id),
    )
    present = [(name, value) for name, value in pairs if value is not None]
    return [f"{name} = {{}}" for name, _ in present], [value for _, value in present]

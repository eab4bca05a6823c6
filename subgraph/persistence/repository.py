"""Reading and writing orders, their history and outbox rows through Piccolo.

Every read that serves a DataLoader takes a whole batch of keys and issues one statement.
"""

from __future__ import annotations

import builtins
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from subgraph.domain.errors import ConcurrentModification
from subgraph.domain.events import OrderEvent
from subgraph.domain.order import Order, OrderStatus, StatusChange
from subgraph.persistence.mapping import change_from_row, order_from_row
from subgraph.persistence.sql import fetch, ids_in, on_postgres
from subgraph.persistence.tables import OrderRow, OrderStatusChangeRow

ParentColumn = Literal["user_id", "product_id"]


@dataclass(frozen=True)
class OrderFilter:
    """What a list asks for; `user_id` also carries a non-admin's own-orders restriction."""

    status: OrderStatus | None = None
    user_id: str | None = None
    product_id: str | None = None


class OrderRepository:
    """Orders in storage. Writes must run inside the unit of work's transaction."""

    async def get(self, order_id: int) -> Order | None:
        rows = await fetch("SELECT * FROM orders WHERE id = {}", order_id)
        return order_from_row(rows[0]) if rows else None

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        if not order_ids:
            return {}
        # Raw SQL on the hot read paths: building the same SELECT through Piccolo's query
        # builder cost ~130 us of CPU per call (303 -> 169 us measured), a tenth of a getOrder.
        condition, args = ids_in("id", order_ids)
        rows = await fetch(f"SELECT * FROM orders WHERE {condition}", *args)
        return {int(r["id"]): order_from_row(r) for r in rows}

    async def find_by_idempotency_key(self, placed_by: str, key: str) -> Order | None:
        rows = await fetch(
            "SELECT * FROM orders WHERE placed_by = {} AND idempotency_key = {}", placed_by, key
        )
        return order_from_row(rows[0]) if rows else None

    async def add(
        self, order: Order, *, placed_by: str, idempotency_key: str | None
    ) -> Order | None:
        """Insert a new order and its first history entry; None when the idempotency key is taken.

        The unique index on (placed_by, idempotency_key) decides races: the loser's insert
        does nothing, and the caller reads the winner's order.
        """
        # Raw SQL on the write path too (see `get_many`): Piccolo's insert builder cost more
        # CPU than the statement itself.
        inserted = await fetch(
            "INSERT INTO orders (user_id, product_id, quantity, status, created_at, updated_at, "
            "version, placed_by, idempotency_key) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (placed_by, idempotency_key) DO NOTHING RETURNING id",
            order.user_id,
            order.product_id,
            order.quantity,
            order.status.value,
            order.created_at,
            order.updated_at,
            order.version,
            placed_by,
            idempotency_key,
        )
        if not inserted:
            return None
        order_id = int(inserted[0]["id"])
        stored = order.stored(id=order_id)
        await self._add_history(order_id, stored.new_history)
        return stored

    async def save(self, order: Order) -> None:
        """Store a changed order unless someone changed it since it was read."""
        assert order.id is not None
        updated = await fetch(
            "UPDATE orders SET quantity = {}, status = {}, updated_at = {}, version = {} "
            "WHERE id = {} AND version = {} RETURNING id",
            order.quantity,
            order.status.value,
            order.updated_at,
            order.version + 1,
            order.id,
            order.version,
        )
        if not updated:
            raise ConcurrentModification(order.id)
        order.version += 1
        await self._add_history(order.id, order.new_history)

    async def delete(self, order: Order) -> None:
        assert order.id is not None
        deleted = (
            await OrderRow.delete()
            .where((OrderRow.id == order.id) & (OrderRow.version == order.version))
            .returning(OrderRow.id)
        )
        if not deleted:
            raise ConcurrentModification(order.id)
        await OrderStatusChangeRow.delete().where(OrderStatusChangeRow.order_id == order.id)

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        """One page, newest first (raw SQL, as in `get_many`)."""
        clauses, values = _conditions(where)
        where_sql = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = await fetch(
            f"SELECT * FROM orders {where_sql}ORDER BY id DESC LIMIT {{}} OFFSET {{}}",
            *values,
            limit,
            offset,
        )
        return [order_from_row(r) for r in rows]

    async def list_by_parents(
        self,
        column: ParentColumn,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        """A page of orders for each of many users (or products) in one statement."""
        if not parent_ids:
            return {}
        filters, values = _conditions(where)
        # Only placeholders carry values; `column` is one of two literals from this module.
        if on_postgres():
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
            args: list[Any] = [list(parent_ids), *values, limit, offset]
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
        for row in await fetch(sql, *args):
            grouped[row[column]].append(order_from_row(row))
        return grouped

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        """Each order's status changes, oldest first, in one statement."""
        if not order_ids:
            return {}
        condition, args = ids_in("order_id", order_ids)
        rows = await fetch(
            f"SELECT * FROM order_status_changes WHERE {condition} ORDER BY id", *args
        )
        grouped: dict[int, builtins.list[StatusChange]] = defaultdict(list)
        for row in rows:
            grouped[int(row["order_id"])].append(change_from_row(row))
        return grouped

    async def add_to_outbox(self, events: Iterable[OrderEvent]) -> None:
        """Store events to publish; called right before commit (see UnitOfWork)."""
        # `created_at` is when the row is written, just before the commit, so the relay's lag
        # (`published_at - created_at`) is commit to broker ack; when the change happened is
        # the event's own `occurred_at`, in the payload.
        written_at = datetime.now(UTC)
        values: list[Any] = []
        for e in events:
            payload = json.dumps(e.as_payload(), separators=(",", ":"))
            values += [e.event_id, e.event_type, e.order_id, payload, written_at]
        if values:
            await fetch(
                "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, "
                "attempts) VALUES " + _rows(len(values) // 5, "({}, {}, {}, {}, {}, 0)"),
                *values,
            )

    async def _add_history(self, order_id: int, changes: builtins.list[StatusChange]) -> None:
        values: list[Any] = []
        for c in changes:
            values += [order_id, c.status.value, c.at, c.reason]
        if values:
            await fetch(
                "INSERT INTO order_status_changes (order_id, status, at, reason) VALUES "
                + _rows(len(changes), "({}, {}, {}, {})"),
                *values,
            )
            changes.clear()


def _rows(count: int, row: str) -> str:
    """`count` copies of one VALUES row of placeholders."""
    return ", ".join(row for _ in range(count))


def _conditions(where: OrderFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions with `{}` placeholders, and their values in order."""
    pairs = (
        ("status", where.status.value if where.status is not None else None),
        ("user_id", where.user_id),
        ("product_id", where.product_id),
    )
    present = [(name, value) for name, value in pairs if value is not None]
    return [f"{name} = {{}}" for name, _ in present], [value for _, value in present]

"""Changing orders inside a unit of work, which it tells about every order it stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from piccolo.engine.base import Engine

from subgraph.domain.errors import ConcurrentModification
from subgraph.domain.order import Order, StatusChange
from subgraph.persistence.availability import translated
from subgraph.persistence.mapping import order_from_row
from subgraph.persistence.reads import OrderReads
from subgraph.persistence.sql import fetch
from subgraph.ports import KeyedPlacement


async def forget_idempotency_keys(engine: Engine[Any], *, placed_before: datetime) -> int:
    """Forget the keys of orders placed before the cutoff; returns how many."""
    forgotten = await fetch(
        engine,
        "UPDATE orders SET idempotency_key = NULL, idempotency_request = NULL "
        "WHERE idempotency_key IS NOT NULL AND created_at < {} RETURNING id",
        placed_before,
    )
    return len(forgotten)


class OrderWrites:
    """Orders as a unit of work reads and changes them. Writes must run in its transaction.

    `stored` is called with every order added, saved or deleted, so that the unit of work
    writes the events each recorded (the use cases never list them).
    """

    def __init__(self, engine: Engine[Any], stored: Callable[[Order], None]) -> None:
        self.engine = engine
        self._reads = OrderReads(engine)
        self._stored = stored

    async def get(self, order_id: int) -> Order | None:
        # Also read before any transaction (an update's read-decide-write): a lost database
        # is StorageUnavailable here.
        with translated("reading an order"):
            return await self._reads.get(order_id)

    async def find_by_idempotency_key(self, placed_by: str, key: str) -> KeyedPlacement | None:
        # Also asked before the transaction begins: a lost database is StorageUnavailable here.
        with translated("looking up an idempotency key"):
            rows = await fetch(
                self.engine,
                "SELECT * FROM orders WHERE placed_by = {} AND idempotency_key = {}",
                placed_by,
                key,
            )
        if not rows:
            return None
        return KeyedPlacement(order_from_row(rows[0]), rows[0]["idempotency_request"])

    async def add(
        self,
        order: Order,
        *,
        placed_by: str,
        idempotency_key: str | None,
        request: str | None = None,
    ) -> Order | None:
        """Insert a new order and its first history entry; None when the idempotency key is taken.

        The unique index on (placed_by, idempotency_key) decides races: the loser's insert
        does nothing, and the caller reads the winner's order.
        """
        # Raw SQL on the write path too (see `reads`): Piccolo's insert builder cost more CPU
        # than the statement itself.
        inserted = await fetch(
            self.engine,
            "INSERT INTO orders (user_id, product_id, quantity, status, created_at, updated_at, "
            "version, placed_by, idempotency_key, idempotency_request) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) "
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
            request,
        )
        if not inserted:
            return None
        order_id = int(inserted[0]["id"])
        stored = order.stored(id=order_id)
        await self._add_history(order_id, stored.new_history)
        self._stored(stored)
        return stored

    async def save(self, order: Order) -> None:
        """Store a changed order unless someone changed it since it was read."""
        assert order.id is not None
        updated = await fetch(
            self.engine,
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
        self._stored(order)

    async def delete(self, order: Order) -> None:
        assert order.id is not None
        deleted = await fetch(
            self.engine,
            "DELETE FROM orders WHERE id = {} AND version = {} RETURNING id",
            order.id,
            order.version,
        )
        if not deleted:
            raise ConcurrentModification(order.id)
        await fetch(self.engine, "DELETE FROM order_status_changes WHERE order_id = {}", order.id)
        self._stored(order)

    async def _add_history(self, order_id: int, changes: list[StatusChange]) -> None:
        values: list[Any] = []
        for c in changes:
            values += [order_id, c.status.value, c.at, c.reason]
        if values:
            rows = ", ".join("({}, {}, {}, {})" for _ in changes)
            await fetch(
                self.engine,
                f"INSERT INTO order_status_changes (order_id, status, at, reason) VALUES {rows}",
                *values,
            )
            changes.clear()

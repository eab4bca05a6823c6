"""Bulk test data for the federation tests, written straight to this run's database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


async def insert_orders(user_product_pairs: Iterable[tuple[int, int]]) -> None:
    """Store one PENDING order of quantity 1 per (user id, product id), ids in the given order.

    One INSERT for the whole batch: placing 1000 orders through the API would take minutes.
    """
    from subgraph.persistence.tables import OrderRow

    now = datetime.now(UTC)
    rows = [
        OrderRow(
            user_id=str(user),
            product_id=str(product),
            quantity=1,
            status="PENDING",
            created_at=now,
            updated_at=now,
            placed_by=str(user),
        )
        for user, product in user_product_pairs
    ]
    await OrderRow.insert(*rows)

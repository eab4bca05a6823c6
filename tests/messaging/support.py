"""Driving the service and the messaging runtime from the messaging tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.order import Order
from subgraph.messaging.runtime import Messaging
from subgraph.persistence.unit_of_work import UnitOfWork
from tests.conftest import TEST_DSN

ADMIN = Principal(user_id="admin-1", is_admin=True)


def _engine() -> Any:
    # Imported late: creating the engine at collection time, before the test database
    # exists, makes Piccolo warn that it cannot read the server version.
    from subgraph.persistence.piccolo_conf import DB

    return DB


async def place(user: str = "u1", product: str = "p1", quantity: int = 1) -> Order:
    return await service.place_order(
        uow=UnitOfWork(_engine()),
        principal=Principal(user_id=user),
        user_id=user,
        product_id=product,
        quantity=quantity,
    )


async def change_quantity(order: Order, quantity: int) -> Order:
    return await service.update_order(
        uow=UnitOfWork(_engine()), principal=ADMIN, order_id=order.id or 0, quantity=quantity
    )


async def set_status(order: Order, status: str) -> Order:
    return await service.update_order(
        uow=UnitOfWork(_engine()), principal=ADMIN, order_id=order.id or 0, status=status
    )


async def delete(order: Order) -> Order:
    return await service.delete_order(
        uow=UnitOfWork(_engine()), principal=ADMIN, order_id=order.id or 0
    )


async def query(sql: str, *args: Any) -> list[asyncpg.Record]:
    """Read the test database on a connection of its own (not the app's pool)."""
    connection = await asyncpg.connect(TEST_DSN)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def unpublished() -> int:
    rows = await query("SELECT COUNT(*) AS n FROM order_outbox WHERE published_at IS NULL")
    return int(rows[0]["n"])


async def outbox_event_ids_by_order() -> dict[str, list[str]]:
    """Each order's event ids in the order they were written."""
    grouped: dict[str, list[str]] = {}
    for row in await query("SELECT order_id, event_id FROM order_outbox ORDER BY id"):
        grouped.setdefault(str(row["order_id"]), []).append(row["event_id"])
    return grouped


@asynccontextmanager
async def running(
    settings: Any, *, relay: bool = True, consume: bool = False
) -> AsyncIterator[Messaging]:
    """The messaging runtime of one process, stopped at the end of the block."""
    messaging = Messaging(settings, _engine(), relay=relay, consume=consume)
    messaging.start()
    try:
        yield messaging
    finally:
        await messaging.stop()

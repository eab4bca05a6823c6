"""updateOrder and cancelOrder on PostgreSQL: a read and one statement (two round trips, no
transaction held open while the domain decides), with every rule kept and no update lost.

Statements are counted by `tests/integration/statements.py`: asyncpg's query logger on every
connection of a pool opened for the test, BEGIN and COMMIT included. Before this change an
update was six: BEGIN, SELECT, UPDATE, INSERT history, INSERT outbox, COMMIT (five for a
quantity-only change, which has no history entry).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.errors import (
    AccessDenied,
    ConcurrentModification,
    ForbiddenTransition,
    OrderNotFound,
)
from subgraph.domain.order import Order, OrderStatus
from subgraph.persistence.unit_of_work import UnitOfWork
from tests.integration.statements import StatementLog, counting_engine
from tests.support import rows

ALICE = Principal(user_id="alice")
BOB = Principal(user_id="bob")
ADMIN = Principal(user_id="admin", is_admin=True)


class Counted(StatementLog):
    async def place(self, quantity: int = 1) -> int:
        order = await service.place_order(
            uow=UnitOfWork(self.engine),
            principal=ALICE,
            user_id="alice",
            product_id="p1",
            quantity=quantity,
        )
        assert order.id is not None
        return order.id

    async def update(self, principal: Principal, order_id: int, **changes: Any) -> Order:
        return await service.update_order(
            uow=UnitOfWork(self.engine), principal=principal, order_id=order_id, **changes
        )

    async def cancel(self, principal: Principal, order_id: int) -> Order:
        return await service.cancel_order(
            uow=UnitOfWork(self.engine), principal=principal, order_id=order_id
        )


@pytest.fixture
async def counted(db: str) -> AsyncIterator[Counted]:
    async with counting_engine(db, Counted) as counting:
        yield counting


async def test_an_update_is_two_round_trips(counted: Counted) -> None:
    warm_up = await counted.place()
    await counted.update(ALICE, warm_up, quantity=2)  # asyncpg prepares the statements once
    order_id = await counted.place()
    counted.statements.clear()

    order = await counted.update(ADMIN, order_id, status="CONFIRMED", quantity=5)

    assert (order.status.value, order.quantity, order.version) == ("CONFIRMED", 5, 2)
    assert len(counted.statements) == 2, counted.statements
    assert not any(s.strip().upper() in {"BEGIN", "COMMIT"} for s in counted.statements)


async def test_a_cancellation_is_two_round_trips(counted: Counted) -> None:
    warm_up = await counted.place()
    await counted.cancel(ALICE, warm_up)
    order_id = await counted.place()
    counted.statements.clear()

    order = await counted.cancel(ALICE, order_id)

    assert order.status.value == "CANCELLED"
    assert len(counted.statements) == 2, counted.statements


async def test_the_one_statement_stores_the_row_its_history_and_its_event(
    counted: Counted, db: str
) -> None:
    order_id = await counted.place(quantity=3)
    await counted.update(ADMIN, order_id, status="Confirmed")
    await counted.update(ALICE, order_id, status="CANCELLED")

    (row,) = await rows(db, "SELECT status, version FROM orders WHERE id = $1", order_id)
    assert (row["status"], row["version"]) == ("CANCELLED", 3)
    history = await rows(db, "SELECT status, reason FROM order_status_changes ORDER BY id")
    assert [tuple(h) for h in history] == [
        ("PENDING", "placed"),
        ("CONFIRMED", "set to CONFIRMED by admin admin"),
        ("CANCELLED", "cancelled by user alice"),
    ]
    outbox = await rows(db, "SELECT event_type, payload FROM order_outbox ORDER BY id")
    assert [o["event_type"] for o in outbox] == ["order.placed", "order.updated", "order.updated"]
    last = json.loads(outbox[-1]["payload"])
    assert last["order"]["status"] == "CANCELLED" and last["previous_status"] == "CONFIRMED"
    assert last["order"]["id"] == str(order_id) and last["order"]["quantity"] == 3


async def test_a_quantity_change_writes_no_history_entry_but_its_event(
    counted: Counted, db: str
) -> None:
    order_id = await counted.place(quantity=3)
    await counted.update(ALICE, order_id, quantity=7)
    assert len(await rows(db, "SELECT id FROM order_status_changes")) == 1
    outbox = await rows(db, "SELECT payload FROM order_outbox ORDER BY id")
    payload = json.loads(outbox[-1]["payload"])
    assert (payload["order"]["quantity"], payload["previous_quantity"]) == (7, 3)


@pytest.mark.parametrize(
    ("principal", "changes", "refusal"),
    [
        (BOB, {"status": "CANCELLED"}, AccessDenied),  # not his order: FORBIDDEN
        (ALICE, {"status": "SHIPPED"}, AccessDenied),  # owners may only cancel
        (ADMIN, {"status": "DELIVERED"}, ForbiddenTransition),  # PENDING -> DELIVERED
    ],
    ids=["others-order", "owner-sets-shipped", "forbidden-move"],
)
async def test_a_refusal_is_one_read_and_writes_nothing(
    counted: Counted, db: str, principal: Principal, changes: dict[str, Any], refusal: type
) -> None:
    order_id = await counted.place()
    counted.statements.clear()
    with pytest.raises(refusal):
        await counted.update(principal, order_id, **changes)
    assert len(counted.statements) == 1, counted.statements
    (row,) = await rows(db, "SELECT status, version FROM orders")
    assert (row["status"], row["version"]) == ("PENDING", 1)
    assert len(await rows(db, "SELECT id FROM order_outbox")) == 1
    assert len(await rows(db, "SELECT id FROM order_status_changes")) == 1


async def test_an_unknown_order_is_not_found(counted: Counted) -> None:
    with pytest.raises(OrderNotFound):
        await counted.cancel(ADMIN, 4242)


async def test_the_change_and_its_event_commit_together_or_not_at_all(
    counted: Counted, db: str
) -> None:
    """An event that cannot be stored (its id already is) leaves the order unchanged too."""
    order_id = await counted.place()
    (placed,) = await rows(db, "SELECT event_id FROM order_outbox")
    order = await UnitOfWork(counted.engine).orders.get(order_id)
    assert order is not None
    order.update(event_id=placed["event_id"], now=order.updated_at, status=OrderStatus.CANCELLED)

    with pytest.raises(asyncpg.UniqueViolationError):
        await UnitOfWork(counted.engine).change(order)

    (row,) = await rows(db, "SELECT status, version FROM orders")
    assert (row["status"], row["version"]) == ("PENDING", 1)
    assert len(await rows(db, "SELECT id FROM order_status_changes")) == 1
    assert len(await rows(db, "SELECT id FROM order_outbox")) == 1


class BothReadFirst(UnitOfWork):
    """A unit of work whose first write waits until every update has read the order: the two
    updates then decide on the same version, and one of them must lose the race."""

    def __init__(self, engine: PostgresEngine, barrier: asyncio.Barrier) -> None:
        super().__init__(engine)
        self.barrier = barrier
        self.writes = 0

    async def change(self, order: Order) -> bool:
        self.writes += 1
        if self.writes == 1:
            await self.barrier.wait()
        return await super().change(order)


async def test_two_concurrent_updates_of_one_order_lose_nothing(counted: Counted, db: str) -> None:
    order_id = await counted.place(quantity=1)
    barrier = asyncio.Barrier(2)
    units = [BothReadFirst(counted.engine, barrier) for _ in range(2)]

    # Two changes the rules allow in either order, so both must be applied, one after the other.
    updated = await asyncio.gather(
        service.update_order(uow=units[0], principal=ALICE, order_id=order_id, quantity=4),
        service.update_order(uow=units[1], principal=ADMIN, order_id=order_id, quantity=6),
    )

    # Both decided on version 1; the loser read again and decided again on the winner's order.
    assert sorted(u.writes for u in units) == [1, 2]
    winner, loser = (0, 1) if units[0].writes == 1 else (1, 0)
    (row,) = await rows(db, "SELECT status, quantity, version FROM orders")
    assert (row["quantity"], row["version"]) == (updated[loser].quantity, 3)
    assert (updated[winner].version, updated[loser].version) == (2, 3)
    history = await rows(db, "SELECT status FROM order_status_changes ORDER BY id")
    assert [h["status"] for h in history] == ["PENDING"] == [row["status"]]
    outbox = await rows(db, "SELECT event_type, payload FROM order_outbox ORDER BY id")
    assert [o["event_type"] for o in outbox] == ["order.placed", "order.updated", "order.updated"]
    first, second = (json.loads(o["payload"]) for o in outbox[1:])
    # Each event starts where the one before it ended, and the last is the stored order.
    assert (first["previous_quantity"], first["order"]["quantity"]) == (
        1,
        updated[winner].quantity,
    )
    assert (second["previous_quantity"], second["order"]["quantity"]) == (
        updated[winner].quantity,
        row["quantity"],
    )


async def test_a_concurrent_status_move_is_judged_on_the_status_it_changes(
    counted: Counted, db: str
) -> None:
    """Ship and cancel decided on the same PENDING order: whichever loses the race is decided
    again on the winner's status. SHIPPED -> CANCELLED is forbidden and CANCELLED -> SHIPPED
    too, so exactly one is applied, and history and events say which."""
    order_id = await counted.place()
    barrier = asyncio.Barrier(2)
    units = [BothReadFirst(counted.engine, barrier) for _ in range(2)]
    outcomes = await asyncio.gather(
        service.update_order(uow=units[0], principal=ADMIN, order_id=order_id, status="SHIPPED"),
        service.cancel_order(uow=units[1], principal=ALICE, order_id=order_id),
        return_exceptions=True,
    )
    applied = [o for o in outcomes if isinstance(o, Order)]
    refused = [o for o in outcomes if isinstance(o, ForbiddenTransition)]
    assert (len(applied), len(refused)) == (1, 1), outcomes
    (row,) = await rows(db, "SELECT status, version FROM orders")
    assert (row["status"], row["version"]) == (applied[0].status.value, 2)
    history = await rows(db, "SELECT status FROM order_status_changes ORDER BY id")
    assert [h["status"] for h in history] == ["PENDING", row["status"]]
    outbox = await rows(db, "SELECT payload FROM order_outbox ORDER BY id")
    assert json.loads(outbox[-1]["payload"])["order"]["status"] == row["status"]
    assert len(outbox) == 2


async def test_a_pile_up_of_concurrent_updates_ends_consistent(counted: Counted, db: str) -> None:
    """Eight owners' quantity changes at once: every one that is applied is in the history of
    events, in order, and the stored order is the last; none is silently lost."""
    order_id = await counted.place(quantity=1)
    outcomes = await asyncio.gather(
        *(counted.update(ALICE, order_id, quantity=q) for q in range(2, 10)),
        return_exceptions=True,
    )
    applied = [o for o in outcomes if isinstance(o, Order)]
    assert all(isinstance(o, (Order, ConcurrentModification)) for o in outcomes), outcomes
    assert applied, "at least the first writer wins"
    (row,) = await rows(db, "SELECT quantity, version FROM orders")
    assert row["version"] == 1 + len(applied)
    outbox = await rows(db, "SELECT payload FROM order_outbox WHERE event_type = 'order.updated'")
    events = [json.loads(o["payload"]) for o in outbox]
    assert len(events) == len(applied)
    chain = [1] + [e["order"]["quantity"] for e in events]
    assert [e["previous_quantity"] for e in events] == chain[:-1]
    assert chain[-1] == row["quantity"]

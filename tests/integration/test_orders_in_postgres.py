"""The use cases against the real PostgreSQL: storage, lists, idempotency and concurrency races."""

from __future__ import annotations

import asyncio
import json

import pytest

from subgraph import service
from subgraph.api.loaders import Loaders
from subgraph.domain.access import Principal
from subgraph.domain.errors import ConcurrentModification, DomainError, IdempotencyKeyReused
from subgraph.domain.order import Order, OrderStatus
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.shared_reads import SharedOrderReads
from subgraph.persistence.tables import OrderRow, OrderStatusChangeRow, OutboxRow
from subgraph.persistence.unit_of_work import UnitOfWork
from subgraph.ports import Parent

ADMIN = Principal(user_id="admin", is_admin=True)
ALICE = Principal(user_id="alice")
BOB = Principal(user_id="bob")

pytestmark = pytest.mark.usefixtures("pool")


def uow() -> UnitOfWork:
    return UnitOfWork(DB)


def reads() -> SharedOrderReads:
    return SharedOrderReads(DB)


async def get_order(principal: Principal, raw_id: str) -> Order | None:
    """`getOrder` and `_entities` of an Order read through a request's loader."""

    async def caller() -> Principal:
        return principal

    return await Loaders(reads=reads(), principal=caller).order_by_id.load(raw_id)


async def place(principal: Principal = ALICE, **kwargs: object) -> int:
    values: dict[str, object] = {"user_id": principal.user_id, "product_id": "p1", "quantity": 1}
    values.update(kwargs)
    order = await service.place_order(uow=uow(), principal=principal, **values)  # type: ignore[arg-type]
    assert order.id is not None
    return order.id


async def test_placing_stores_the_order_its_history_and_its_outbox_event_together() -> None:
    order_id = await place(quantity=3)
    row = await OrderRow.select().where(OrderRow.id == order_id).first()
    assert row is not None
    assert (row["user_id"], row["product_id"], row["quantity"], row["status"]) == (
        "alice",
        "p1",
        3,
        "PENDING",
    )
    history = await OrderStatusChangeRow.select().where(OrderStatusChangeRow.order_id == order_id)
    assert [h["status"] for h in history] == ["PENDING"]
    outbox = await OutboxRow.select().where(OutboxRow.order_id == order_id)
    assert [o["event_type"] for o in outbox] == ["order.placed"]
    assert json.loads(outbox[0]["payload"])["order"]["quantity"] == 3


async def test_a_refused_change_writes_nothing() -> None:
    order_id = await place()
    with pytest.raises(DomainError):
        await service.update_order(
            uow=uow(), principal=ADMIN, order_id=order_id, status="Delivered"
        )
    assert await OutboxRow.count() == 1
    assert await OrderStatusChangeRow.count() == 1
    row = await OrderRow.select(OrderRow.status, OrderRow.version).first()
    assert row == {"status": "PENDING", "version": 1}


async def test_lists_are_newest_first_and_filtered() -> None:
    first = await place(product_id="p1")
    second = await place(product_id="p2")
    third = await place(BOB, product_id="p1")
    await service.cancel_order(uow=uow(), principal=ALICE, order_id=second)

    every = await service.list_orders(orders=reads(), principal=ADMIN)
    assert [o.id for o in every] == [third, second, first]
    by_product = await service.list_orders(orders=reads(), principal=ADMIN, product_id="p1")
    assert [o.id for o in by_product] == [third, first]
    cancelled = await service.list_orders(
        orders=reads(), principal=ADMIN, status=OrderStatus.CANCELLED
    )
    assert [o.id for o in cancelled] == [second]
    page = await service.list_orders(orders=reads(), principal=ADMIN, limit=1, offset=1)
    assert [o.id for o in page] == [second]


async def test_a_non_admin_lists_only_their_own_orders_whatever_the_filters() -> None:
    mine = await place(ALICE)
    await place(BOB)
    assert [o.id for o in await service.list_orders(orders=reads(), principal=ALICE)] == [mine]
    assert await service.list_orders(orders=reads(), principal=ALICE, user_id="bob") == []


async def test_pages_for_many_parents_come_from_one_query_cut_per_parent() -> None:
    for user in ("u1", "u2", "u3"):
        for _ in range(3):
            await place(ADMIN, user_id=user)
    pages = await service.list_orders_of_parents(
        orders=reads(),
        principal=ADMIN,
        parent=Parent.USER,
        parent_ids=["u1", "u2", "u3", "nobody"],
        status=None,
        limit=2,
        offset=1,
    )
    assert {k: [o.user_id for o in v] for k, v in pages.items()} == {
        "u1": ["u1", "u1"],
        "u2": ["u2", "u2"],
        "u3": ["u3", "u3"],
    }
    for orders in pages.values():
        ids = [o.id for o in orders]
        assert ids == sorted(ids, reverse=True), "newest first within each parent"


async def test_a_retried_idempotency_key_returns_the_first_order() -> None:
    first = await place(idempotency_key="k-1", quantity=2)
    again = await place(idempotency_key="k-1", quantity=2)
    assert again == first
    assert await OrderRow.count() == 1
    assert await OutboxRow.count() == 1


async def test_another_callers_same_key_never_returns_someone_elses_order() -> None:
    alices = await place(ALICE, idempotency_key="shared")
    bobs = await place(BOB, idempotency_key="shared")
    assert alices != bobs
    row = await OrderRow.select(OrderRow.user_id).where(OrderRow.id == bobs).first()
    assert row == {"user_id": "bob"}


async def test_racing_retries_with_one_key_place_exactly_one_order() -> None:
    results = await asyncio.gather(*(place(idempotency_key="race") for _ in range(8)))
    assert len(set(results)) == 1
    assert await OrderRow.count() == 1
    assert await OutboxRow.count() == 1, "the losers wrote no event"


async def test_racing_placements_with_one_key_and_other_arguments_place_one_order() -> None:
    outcomes = await asyncio.gather(
        *(place(idempotency_key="race", quantity=1 + i % 2) for i in range(8)),
        return_exceptions=True,
    )
    placed = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, IdempotencyKeyReused)]
    assert len(set(placed)) == 1 and len(placed) + len(refused) == 8
    row = await OrderRow.select(OrderRow.quantity).first()
    # Every caller that asked for the winner's quantity got the winner's order.
    assert len(placed) == sum(1 for i in range(8) if 1 + i % 2 == row["quantity"])
    assert await OrderRow.count() == 1
    assert await OutboxRow.count() == 1


async def test_concurrent_updates_are_applied_one_after_another() -> None:
    """Each update is judged on the order as the one before it left it (a loser of the version
    race reads again and decides again): what is applied forms one line of moves the rules
    allow, and the rest are refused by a rule, never lost or half-stored."""
    order_id = await place(ADMIN, user_id="alice")
    outcomes = await asyncio.gather(
        service.update_order(uow=uow(), principal=ADMIN, order_id=order_id, status="SHIPPED"),
        service.update_order(uow=uow(), principal=ADMIN, order_id=order_id, status="CANCELLED"),
        service.update_order(uow=uow(), principal=ADMIN, order_id=order_id, status="CONFIRMED"),
        return_exceptions=True,
    )
    succeeded = sorted((o for o in outcomes if isinstance(o, Order)), key=lambda o: o.version)
    failed = [o for o in outcomes if not isinstance(o, Order)]
    assert succeeded
    assert all(isinstance(f, (ConcurrentModification, DomainError)) for f in failed), failed
    row = await OrderRow.select(OrderRow.status, OrderRow.version).first()
    assert row == {"status": succeeded[-1].status.value, "version": 1 + len(succeeded)}
    history = await OrderStatusChangeRow.select().order_by(OrderStatusChangeRow.id)
    assert [h["status"] for h in history] == ["PENDING"] + [o.status.value for o in succeeded]
    assert await OutboxRow.count() == 1 + len(succeeded), "one event per applied update"


async def test_deleting_removes_the_order_and_its_history_and_records_the_event() -> None:
    order_id = await place()
    deleted = await service.delete_order(uow=uow(), principal=ADMIN, order_id=order_id)
    assert deleted.id == order_id
    assert await OrderRow.count() == 0
    assert await OrderStatusChangeRow.count() == 0
    types = [r["event_type"] for r in await OutboxRow.select().order_by(OutboxRow.id)]
    assert types == ["order.placed", "order.deleted"]


async def test_ids_that_cannot_name_an_order_are_not_found() -> None:
    for raw in ["abc", "-1", "0", str(2**70), ""]:
        assert await get_order(ADMIN, raw) is None


async def test_ids_do_not_run_out_at_two_billion() -> None:
    rows = await OrderRow.raw(
        "SELECT table_name, data_type FROM information_schema.columns "
        "WHERE column_name = 'id' AND table_name IN ('orders', 'order_status_changes', "
        "'order_outbox') ORDER BY table_name"
    )
    assert {r["table_name"]: r["data_type"] for r in rows} == {
        "order_outbox": "bigint",
        "order_status_changes": "bigint",
        "orders": "bigint",
    }
    await OrderRow.raw("SELECT setval('orders_id_seq', 3000000000)")
    order_id = await place()
    assert order_id == 3_000_000_001
    found = await get_order(ADMIN, str(order_id))
    assert found is not None and found.id == order_id

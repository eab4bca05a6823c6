"""The use cases against in-memory fakes of the storage ports: rules, access, events recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.errors import (
    AccessDenied,
    BadInput,
    ForbiddenTransition,
    IdempotencyKeyReused,
    InvalidQuantity,
    OrderNotFound,
    QuantityLocked,
)
from subgraph.domain.events import OrderDeleted, OrderPlaced, OrderUpdated
from subgraph.domain.order import Order, OrderStatus
from subgraph.ports import Parent
from tests.unit.fakes import FakeReads, FakeUnitOfWork, Storage

ADMIN = Principal(user_id="admin", is_admin=True)
ALICE = Principal(user_id="alice")
BOB = Principal(user_id="bob")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def storage() -> Storage:
    return Storage()


async def place(storage: Storage, who: Principal = ALICE, **kwargs: object) -> Order:
    values: dict[str, object] = {"user_id": who.user_id, "product_id": "p1", "quantity": 1}
    values.update(kwargs)
    return await service.place_order(
        uow=FakeUnitOfWork(storage),
        principal=who,
        clock=clock,
        **values,  # type: ignore[arg-type]
    )


async def update(storage: Storage, who: Principal, order: Order, **kwargs: object) -> Order:
    return await service.update_order(
        uow=FakeUnitOfWork(storage),
        principal=who,
        order_id=str(order.id),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_placing_stores_a_pending_order_and_records_order_placed(storage: Storage) -> None:
    order = await place(storage, quantity=3)
    assert (order.id, order.status, order.quantity) == (1, OrderStatus.PENDING, 3)
    [event] = storage.outbox
    assert isinstance(event, OrderPlaced)
    assert (event.order_id, event.occurred_at) == (1, NOW)


async def test_a_user_cannot_place_an_order_for_someone_else(storage: Storage) -> None:
    with pytest.raises(AccessDenied):
        await place(storage, ALICE, user_id="bob")
    assert storage.orders == {} and storage.outbox == []


async def test_an_admin_places_orders_for_anyone(storage: Storage) -> None:
    order = await place(storage, ADMIN, user_id="bob")
    assert order.user_id == "bob"


async def test_an_invalid_quantity_places_nothing(storage: Storage) -> None:
    with pytest.raises(InvalidQuantity):
        await place(storage, quantity=0)
    assert storage.orders == {} and storage.outbox == []


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_order(
    storage: Storage,
) -> None:
    first = await place(storage, idempotency_key="k1")
    again = await place(storage, idempotency_key="k1")
    assert again.id == first.id and again.quantity == 1
    assert len(storage.orders) == 1 and len(storage.outbox) == 1


@pytest.mark.parametrize(
    "other", [{"quantity": 5}, {"product_id": "p2"}], ids=["quantity", "product"]
)
async def test_the_same_idempotency_key_with_other_arguments_is_refused_naming_the_key(
    storage: Storage, other: dict[str, object]
) -> None:
    await place(storage, idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReused) as refused:
        await place(storage, idempotency_key="k1", **other)
    assert "'k1'" in str(refused.value)
    assert len(storage.orders) == 1 and len(storage.outbox) == 1


async def test_a_retry_still_gets_its_order_after_the_quantity_was_changed(
    storage: Storage,
) -> None:
    first = await place(storage, idempotency_key="k1", quantity=2)
    await update(storage, ALICE, first, quantity=7)
    again = await place(storage, idempotency_key="k1", quantity=2)
    assert again.id == first.id and again.quantity == 7


async def test_the_same_idempotency_key_of_another_caller_places_another_order(
    storage: Storage,
) -> None:
    mine = await place(storage, ALICE, idempotency_key="k1")
    theirs = await place(storage, BOB, idempotency_key="k1")
    assert mine.id != theirs.id


async def test_an_owner_cancels_and_the_event_carries_the_previous_status(
    storage: Storage,
) -> None:
    order = await place(storage)
    cancelled = await service.cancel_order(
        uow=FakeUnitOfWork(storage), principal=ALICE, order_id=str(order.id), clock=clock
    )
    assert cancelled.status is OrderStatus.CANCELLED
    event = storage.outbox[-1]
    assert isinstance(event, OrderUpdated)
    assert (event.previous_status, event.order.status) == ("PENDING", "CANCELLED")
    assert storage.history[1][-1].reason == "cancelled by user alice"


async def test_an_owner_may_not_set_any_other_status(storage: Storage) -> None:
    order = await place(storage)
    with pytest.raises(AccessDenied):
        await update(storage, ALICE, order, status="shipped")
    assert storage.orders[1].status is OrderStatus.PENDING and len(storage.outbox) == 1


async def test_nobody_but_an_admin_changes_another_users_order(storage: Storage) -> None:
    order = await place(storage)
    with pytest.raises(AccessDenied):
        await update(storage, BOB, order, quantity=2)
    shipped = await update(storage, ADMIN, order, status="Shipped")
    assert shipped.status is OrderStatus.SHIPPED
    assert storage.history[1][-1].reason == "set to SHIPPED by admin admin"


async def test_a_forbidden_move_changes_nothing_and_records_nothing(storage: Storage) -> None:
    order = await place(storage)
    await update(storage, ADMIN, order, status="CANCELLED")
    with pytest.raises(ForbiddenTransition):
        await update(storage, ADMIN, order, status="SHIPPED")
    assert storage.orders[1].status is OrderStatus.CANCELLED
    assert [e.event_type for e in storage.outbox] == ["order.placed", "order.updated"]


async def test_the_quantity_changes_only_while_pending(storage: Storage) -> None:
    order = await place(storage)
    changed = await update(storage, ALICE, order, quantity=4)
    assert changed.quantity == 4
    await update(storage, ADMIN, order, status="CONFIRMED")
    with pytest.raises(QuantityLocked):
        await update(storage, ALICE, order, quantity=5)
    assert storage.orders[1].quantity == 4


async def test_changing_an_order_that_does_not_exist_is_not_found(storage: Storage) -> None:
    for raw in ("42", "abc", "-1", str(2**70)):
        with pytest.raises(OrderNotFound):
            await service.update_order(
                uow=FakeUnitOfWork(storage), principal=ADMIN, order_id=raw, status="SHIPPED"
            )


async def test_only_an_admin_deletes_and_the_event_has_the_order_as_it_was(
    storage: Storage,
) -> None:
    order = await place(storage, quantity=2)
    with pytest.raises(AccessDenied):
        await service.delete_order(uow=FakeUnitOfWork(storage), principal=ALICE, order_id=1)
    deleted = await service.delete_order(
        uow=FakeUnitOfWork(storage), principal=ADMIN, order_id=str(order.id), clock=clock
    )
    assert deleted.quantity == 2 and storage.orders == {}
    event = storage.outbox[-1]
    assert isinstance(event, OrderDeleted) and event.order.quantity == 2


async def test_orders_by_id_hide_what_the_caller_may_not_see(storage: Storage) -> None:
    mine, theirs = await place(storage, ALICE), await place(storage, BOB)
    found = await service.get_orders_by_ids(
        orders=FakeReads(storage),
        principal=ALICE,
        order_ids=[str(theirs.id), "nonsense", str(mine.id), "999"],
    )
    assert [o.id if o else None for o in found] == [None, None, mine.id, None]


async def test_a_user_lists_only_their_own_orders_whatever_the_filters(storage: Storage) -> None:
    mine, _ = await place(storage, ALICE), await place(storage, BOB)
    reads = FakeReads(storage)
    own = await service.list_orders(orders=reads, principal=ALICE)
    assert [o.id for o in own] == [mine.id]
    assert await service.list_orders(orders=reads, principal=ALICE, user_id="bob") == []
    every = await service.list_orders(orders=reads, principal=ADMIN)
    assert [o.id for o in every] == [2, 1]


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (1001, 0), (10, -1)])
async def test_a_page_out_of_range_is_bad_input(limit: int, offset: int) -> None:
    with pytest.raises(BadInput):
        await service.list_orders(
            orders=FakeReads(Storage()), principal=ADMIN, limit=limit, offset=offset
        )


async def test_pages_of_users_show_a_user_only_their_own(storage: Storage) -> None:
    await place(storage, ALICE)
    await place(storage, BOB)
    reads = FakeReads(storage)

    async def pages(who: Principal, parent: Parent, ids: list[str]) -> dict[str, list[int]]:
        found = await service.list_orders_of_parents(
            orders=reads,
            principal=who,
            parent=parent,
            parent_ids=ids,
            status=None,
            limit=10,
            offset=0,
        )
        return {k: [o.id or 0 for o in v] for k, v in found.items()}

    assert await pages(ALICE, Parent.USER, ["alice", "bob"]) == {"alice": [1]}
    assert await pages(ALICE, Parent.PRODUCT, ["p1"]) == {"p1": [1]}
    assert await pages(ADMIN, Parent.PRODUCT, ["p1"]) == {"p1": [2, 1]}
    assert await pages(BOB, Parent.USER, ["alice"]) == {}


async def test_history_lists_every_status_oldest_first(storage: Storage) -> None:
    order = await place(storage)
    await update(storage, ADMIN, order, status="CONFIRMED")
    found = await service.histories(orders=FakeReads(storage), order_ids=[1])
    assert [c.status for c in found[1]] == [OrderStatus.PENDING, OrderStatus.CONFIRMED]


async def apply(storage: Storage, event_id: str, order_id: int, *, reserved: bool) -> object:
    return await service.apply_inventory_result(
        uow=FakeUnitOfWork(storage),
        principal=service.INVENTORY_PRINCIPAL,
        event_id=event_id,
        order_id=order_id,
        reserved=reserved,
        reason=None if reserved else "out of stock",
        clock=clock,
    )


async def test_an_inventory_result_confirms_or_rejects_a_pending_order_once(
    storage: Storage,
) -> None:
    await place(storage)
    await place(storage)
    assert await apply(storage, "e1", 1, reserved=True) is service.InventoryOutcome.APPLIED
    assert await apply(storage, "e1", 1, reserved=True) is service.InventoryOutcome.DUPLICATE
    assert await apply(storage, "e2", 2, reserved=False) is service.InventoryOutcome.APPLIED
    assert [storage.orders[i].status for i in (1, 2)] == [
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
    ]
    assert storage.history[2][-1].reason == "inventory rejected: out of stock"
    assert [e.event_type for e in storage.outbox].count("order.updated") == 2


async def test_an_inventory_result_for_an_order_that_moved_on_changes_nothing(
    storage: Storage,
) -> None:
    await place(storage)
    await apply(storage, "e1", 1, reserved=True)
    assert await apply(storage, "e2", 1, reserved=False) is service.InventoryOutcome.NOT_PENDING
    assert await apply(storage, "e3", 99, reserved=True) is service.InventoryOutcome.UNKNOWN_ORDER
    assert storage.orders[1].status is OrderStatus.CONFIRMED
    assert len(storage.outbox) == 2

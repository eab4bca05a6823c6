"""The order domain's rules, with no I/O: transitions, quantities, status text, history, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subgraph.domain.errors import (
    ForbiddenTransition,
    InvalidQuantity,
    InvalidReference,
    InvalidStatus,
    NothingToUpdate,
    QuantityLocked,
)
from subgraph.domain.events import OrderDeleted, OrderPlaced, OrderUpdated
from subgraph.domain.order import (
    FINAL_STATUSES,
    Order,
    OrderStatus,
    check_transition,
)

S = OrderStatus
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ALLOWED = {
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.REJECTED),
    (S.PENDING, S.SHIPPED),
    (S.PENDING, S.CANCELLED),
    (S.CONFIRMED, S.SHIPPED),
    (S.CONFIRMED, S.CANCELLED),
    (S.SHIPPED, S.DELIVERED),
}
ALL_PAIRS = [(a, b) for a in S for b in S]


def stored_order(status: OrderStatus = S.PENDING, quantity: int = 2) -> Order:
    order = Order.place(user_id="7", product_id="42", quantity=quantity, now=NOW).stored(id=1)
    order.status = status
    order.new_history.clear()
    return order


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED, key=str))
def test_an_allowed_move_changes_the_status_and_records_it(
    current: OrderStatus, target: OrderStatus
) -> None:
    order = stored_order(current)
    later = NOW + timedelta(minutes=5)
    order.update(event_id="e-1", now=later, status=target, reason="because")
    assert order.status is target
    assert order.updated_at == later
    assert [(c.status, c.at, c.reason) for c in order.new_history] == [(target, later, "because")]
    (event,) = order.events
    assert isinstance(event, OrderUpdated)
    assert (event.previous_status, event.order.status) == (current.value, target.value)


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in ALLOWED], ids=str)
def test_every_other_move_is_refused_and_changes_nothing(
    current: OrderStatus, target: OrderStatus
) -> None:
    order = stored_order(current)
    with pytest.raises(ForbiddenTransition) as refused:
        order.update(event_id="e-1", now=NOW, status=target)
    assert order.status is current
    assert order.events == [] and order.new_history == []
    assert current.value in str(refused.value)


def test_setting_the_current_status_again_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ForbiddenTransition, match="already SHIPPED"):
        check_transition(S.SHIPPED, S.SHIPPED)


def test_rejected_delivered_and_cancelled_are_the_final_statuses() -> None:
    assert {S.REJECTED, S.DELIVERED, S.CANCELLED} == FINAL_STATUSES


@pytest.mark.parametrize("text", ["Shipped", "SHIPPED", "shipped", " shipped "])
def test_status_text_is_read_in_any_letter_case(text: str) -> None:
    assert OrderStatus.parse(text) is S.SHIPPED


def test_an_unknown_status_lists_the_allowed_values() -> None:
    with pytest.raises(InvalidStatus) as refused:
        OrderStatus.parse("Teleported")
    message = str(refused.value)
    assert "Teleported" in message
    for status in S:
        assert status.value in message


@pytest.mark.parametrize("quantity", [1, 2, 9_999, 10_000])
def test_quantities_from_1_to_10000_are_accepted(quantity: int) -> None:
    assert Order.place(user_id="1", product_id="1", quantity=quantity, now=NOW).quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, 10_001, 2**40, True])
def test_quantities_outside_1_to_10000_are_refused(quantity: int) -> None:
    with pytest.raises(InvalidQuantity, match="between 1 and 10000"):
        Order.place(user_id="1", product_id="1", quantity=quantity, now=NOW)


@pytest.mark.parametrize("user_id", ["", "   ", "x" * 65])
def test_empty_or_oversized_user_ids_are_refused(user_id: str) -> None:
    with pytest.raises(InvalidReference, match="userId"):
        Order.place(user_id=user_id, product_id="1", quantity=1, now=NOW)


def test_a_new_order_is_pending_with_a_placed_history_entry() -> None:
    order = Order.place(user_id="7", product_id="42", quantity=3, now=NOW)
    assert order.status is S.PENDING
    assert [(c.status, c.reason) for c in order.new_history] == [(S.PENDING, "placed")]


def test_placing_records_an_order_placed_event_with_the_contract_payload() -> None:
    order = Order.place(user_id="7", product_id="42", quantity=3, now=NOW).stored(id=9)
    order.record_placed(event_id="ev-1", now=NOW)
    (event,) = order.events
    assert isinstance(event, OrderPlaced)
    assert event.as_payload() == {
        "event_id": "ev-1",
        "event_type": "order.placed",
        "occurred_at": "2026-01-02T03:04:05Z",
        "version": 1,
        "order": {
            "id": "9",
            "user_id": "7",
            "product_id": "42",
            "quantity": 3,
            "status": "PENDING",
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:04:05Z",
        },
    }


def test_quantity_changes_while_pending_and_the_event_carries_the_previous_one() -> None:
    order = stored_order(S.PENDING, quantity=2)
    order.update(event_id="e", now=NOW, quantity=5)
    assert order.quantity == 5
    (event,) = order.events
    assert isinstance(event, OrderUpdated)
    payload = event.as_payload()
    assert (payload["previous_quantity"], payload["order"]["quantity"]) == (2, 5)
    assert payload["previous_status"] == "PENDING"
    assert order.new_history == [], "a quantity change is not a status change"


@pytest.mark.parametrize("status", [S.CONFIRMED, S.SHIPPED, S.CANCELLED])
def test_quantity_is_locked_once_the_order_left_pending(status: OrderStatus) -> None:
    order = stored_order(status, quantity=2)
    with pytest.raises(QuantityLocked, match="only while the order is PENDING"):
        order.update(event_id="e", now=NOW, quantity=5)
    assert order.quantity == 2


def test_a_bad_quantity_with_a_good_status_changes_neither() -> None:
    order = stored_order(S.PENDING, quantity=2)
    with pytest.raises(InvalidQuantity):
        order.update(event_id="e", now=NOW, status=S.CONFIRMED, quantity=0)
    assert (order.status, order.quantity, order.events) == (S.PENDING, 2, [])


def test_an_update_with_nothing_to_change_is_refused() -> None:
    with pytest.raises(NothingToUpdate):
        stored_order().update(event_id="e", now=NOW)


def test_cancelling_records_the_reason() -> None:
    order = stored_order(S.CONFIRMED)
    order.update(event_id="e", now=NOW, status=S.CANCELLED, reason="cancelled by user 7")
    assert order.status is S.CANCELLED
    assert order.new_history[-1].reason == "cancelled by user 7"


def test_cancelling_a_shipped_order_is_refused() -> None:
    with pytest.raises(ForbiddenTransition, match="SHIPPED"):
        stored_order(S.SHIPPED).update(event_id="e", now=NOW, status=S.CANCELLED, reason="too late")


def test_deleting_records_the_order_as_it_was() -> None:
    order = stored_order(S.SHIPPED)
    order.record_deleted(event_id="e", now=NOW)
    (event,) = order.events
    assert isinstance(event, OrderDeleted)
    assert event.as_payload()["order"]["status"] == "SHIPPED"
    assert event.as_payload()["event_type"] == "order.deleted"

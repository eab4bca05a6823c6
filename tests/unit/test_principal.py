"""Who may see and change which order, as the Principal decides it."""

from __future__ import annotations

import pytest

from subgraph.domain.access import Principal
from subgraph.domain.errors import AccessDenied
from subgraph.domain.order import OrderStatus

ADMIN = Principal(user_id="root", is_admin=True)
ALICE = Principal(user_id="alice")


def test_a_user_sees_only_their_own_orders_and_an_admin_sees_every_order() -> None:
    assert ALICE.can_view("alice") and not ALICE.can_view("bob")
    assert ADMIN.can_view("bob")


def test_ownership_is_an_exact_match_of_the_user_id() -> None:
    assert ALICE.owns("alice")
    assert not ALICE.owns("Alice") and not ALICE.owns("alice ")


def test_a_user_places_orders_only_for_themselves() -> None:
    ALICE.check_can_place_for("alice")
    with pytest.raises(AccessDenied, match="only for yourself"):
        ALICE.check_can_place_for("bob")
    ADMIN.check_can_place_for("bob")


def test_an_owner_may_cancel_or_change_the_quantity_but_not_set_another_status() -> None:
    ALICE.check_can_update("alice", status=OrderStatus.CANCELLED, quantity=None)
    ALICE.check_can_update("alice", status=None, quantity=3)
    with pytest.raises(AccessDenied, match="other than CANCELLED"):
        ALICE.check_can_update("alice", status=OrderStatus.SHIPPED, quantity=None)


def test_nobody_but_an_admin_changes_another_users_order() -> None:
    with pytest.raises(AccessDenied, match="only your own"):
        ALICE.check_can_update("bob", status=OrderStatus.CANCELLED, quantity=None)
    ADMIN.check_can_update("bob", status=OrderStatus.DELIVERED, quantity=None)


def test_only_an_admin_deletes() -> None:
    with pytest.raises(AccessDenied):
        ALICE.check_can_delete()
    ADMIN.check_can_delete()


def test_a_principal_is_a_value() -> None:
    assert Principal(user_id="alice") == ALICE
    assert not Principal(user_id="alice").is_admin

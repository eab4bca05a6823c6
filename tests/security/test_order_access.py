"""Every cell of the who-may-do-what table, over HTTP: the owner, another user and an admin.

Alice (user 7) owns one order of product 1; Bob (user 8) owns one of product 1 and one of
product 2. Refusals are FORBIDDEN errors that change nothing; reads of what is not yours look
exactly like reads of what does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.security.conftest import error_codes
from tests.support import ADMIN, bearer, gql, make_token

ALICE = bearer("7")
BOB = bearer("8")
CALLERS = {"owner": ALICE, "other": BOB, "admin": ADMIN}

PLACE = """mutation($userId: ID!, $productId: ID!) {
  placeOrder(userId: $userId, productId: $productId, quantity: 1) { success order { id } }
}"""
GET = "query($id: ID!) { getOrder(id: $id) { id userId status quantity } }"
LIST = """query($userId: ID, $productId: ID, $status: OrderStatus) {
  getOrders(userId: $userId, productId: $productId, status: $status) { id }
}"""
ENTITIES = """query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Order { id userId }
    ... on User { id orders { id } }
    ... on Product { id orders { id } }
  }
}"""
UPDATE = """mutation($id: ID!, $status: String, $quantity: Int) {
  updateOrder(id: $id, status: $status, quantity: $quantity) { success order { status quantity } }
}"""
CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { success order { status } } }"
DELETE = "mutation($id: ID!) { deleteOrder(id: $id) { success } }"


@pytest.fixture(
    params=["authenticated,listSize", ""],
    ids=["router-directives-printed", "router-directives-left-out"],
)
async def client(request: pytest.FixtureRequest, app_with: AppFactory) -> AsyncIterator[Any]:
    """The app with and without the router directives in its SDL: the rules are the same,
    because the subgraph enforces them itself (FEDERATION_DIRECTIVES only shapes the SDL)."""
    async with app_with(federation_directives=request.param) as test_client:
        yield test_client


@dataclass(frozen=True)
class Orders:
    alice: str
    bob_product_1: str
    bob_product_2: str


async def place(client: Any, user: str, product: str) -> str:
    body = await gql(client, PLACE, {"userId": user, "productId": product}, headers=ADMIN)
    assert body["data"]["placeOrder"]["success"] is True, body
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


@pytest.fixture
async def orders(client: Any) -> Orders:
    return Orders(
        alice=await place(client, "7", "1"),
        bob_product_1=await place(client, "8", "1"),
        bob_product_2=await place(client, "8", "2"),
    )


async def as_admin(client: Any, order_id: str) -> dict[str, Any] | None:
    body = await gql(client, GET, {"id": order_id}, headers=ADMIN)
    order: dict[str, Any] | None = body["data"]["getOrder"]
    return order


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def assert_forbidden(body: dict[str, Any]) -> None:
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees"), [("owner", True), ("other", False), ("admin", True)])
async def test_get_order_shows_an_order_only_to_its_owner_and_admins(
    client: Any, orders: Orders, who: str, sees: bool
) -> None:
    body = await gql(client, GET, {"id": orders.alice}, headers=CALLERS[who])
    expected = {"id": orders.alice, "userId": "7", "status": "PENDING", "quantity": 1}
    assert body == {"data": {"getOrder": expected if sees else None}}


async def test_another_users_order_reads_exactly_like_a_missing_one(
    client: Any, orders: Orders
) -> None:
    theirs = await gql(client, GET, {"id": orders.alice}, headers=BOB)
    missing = await gql(client, GET, {"id": "999999"}, headers=BOB)
    assert theirs == missing == {"data": {"getOrder": None}}


@pytest.mark.parametrize(("who", "sees"), [("owner", True), ("other", False), ("admin", True)])
async def test_order_entities_resolve_only_for_the_owner_and_admins(
    client: Any, orders: Orders, who: str, sees: bool
) -> None:
    representations = [{"__typename": "Order", "id": orders.alice}]
    body = await gql(client, ENTITIES, {"representations": representations}, headers=CALLERS[who])
    expected = {"id": orders.alice, "userId": "7"} if sees else None
    assert body == {"data": {"_entities": [expected]}}


async def test_get_orders_lists_only_the_callers_own_orders(client: Any, orders: Orders) -> None:
    alice = await gql(client, LIST, headers=ALICE)
    bob = await gql(client, LIST, headers=BOB)
    admin = await gql(client, LIST, headers=ADMIN)
    assert ids(alice["data"]["getOrders"]) == [orders.alice]
    assert ids(bob["data"]["getOrders"]) == [orders.bob_product_2, orders.bob_product_1]
    assert ids(admin["data"]["getOrders"]) == [
        orders.bob_product_2,
        orders.bob_product_1,
        orders.alice,
    ]


@pytest.mark.parametrize(
    "filters",
    [{"userId": "7"}, {"userId": "7", "status": "PENDING"}, {"userId": "7", "productId": "1"}],
)
async def test_get_orders_filtered_by_another_user_is_empty_for_a_non_admin(
    client: Any, orders: Orders, filters: dict[str, str]
) -> None:
    bob = await gql(client, LIST, filters, headers=BOB)
    admin = await gql(client, LIST, filters, headers=ADMIN)
    assert bob == {"data": {"getOrders": []}}
    assert ids(admin["data"]["getOrders"]) == [orders.alice]


async def test_get_orders_by_product_shows_a_non_admin_only_their_own(
    client: Any, orders: Orders
) -> None:
    bob = await gql(client, LIST, {"productId": "1"}, headers=BOB)
    admin = await gql(client, LIST, {"productId": "1"}, headers=ADMIN)
    assert ids(bob["data"]["getOrders"]) == [orders.bob_product_1]
    assert ids(admin["data"]["getOrders"]) == [orders.bob_product_1, orders.alice]


@pytest.mark.parametrize(("who", "sees"), [("owner", True), ("other", False), ("admin", True)])
async def test_user_orders_through_entities_follow_ownership(
    client: Any, orders: Orders, who: str, sees: bool
) -> None:
    representations = [{"__typename": "User", "id": "7"}]
    body = await gql(client, ENTITIES, {"representations": representations}, headers=CALLERS[who])
    expected = [{"id": orders.alice}] if sees else []
    assert body == {"data": {"_entities": [{"id": "7", "orders": expected}]}}


async def test_a_batch_of_users_shows_a_non_admin_only_their_own_orders(
    client: Any, orders: Orders
) -> None:
    representations = [{"__typename": "User", "id": "7"}, {"__typename": "User", "id": "8"}]
    body = await gql(client, ENTITIES, {"representations": representations}, headers=BOB)
    bobs = [{"id": orders.bob_product_2}, {"id": orders.bob_product_1}]
    assert body == {"data": {"_entities": [{"id": "7", "orders": []}, {"id": "8", "orders": bobs}]}}


@pytest.mark.parametrize(
    ("who", "expected"),
    [("owner", ["alice"]), ("other", ["bob_product_1"]), ("admin", ["bob_product_1", "alice"])],
)
async def test_product_orders_through_entities_show_a_non_admin_only_their_own(
    client: Any, orders: Orders, who: str, expected: list[str]
) -> None:
    representations = [{"__typename": "Product", "id": "1"}]
    body = await gql(client, ENTITIES, {"representations": representations}, headers=CALLERS[who])
    rows = [{"id": getattr(orders, name)} for name in expected]
    assert body == {"data": {"_entities": [{"id": "1", "orders": rows}]}}


# --- placeOrder ------------------------------------------------------------------------------


async def test_a_user_places_orders_for_themselves(client: Any, orders: Orders) -> None:
    body = await gql(client, PLACE, {"userId": "7", "productId": "3"}, headers=ALICE)
    assert body["data"]["placeOrder"]["success"] is True


async def test_a_user_cannot_place_an_order_for_someone_else(client: Any, orders: Orders) -> None:
    body = await gql(client, PLACE, {"userId": "8", "productId": "3"}, headers=ALICE)
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "You can place orders only for yourself"
    everything = await gql(client, LIST, headers=ADMIN)
    assert len(everything["data"]["getOrders"]) == 3  # nothing was placed


async def test_an_admin_places_orders_for_anyone(client: Any, orders: Orders) -> None:
    body = await gql(client, PLACE, {"userId": "99", "productId": "3"}, headers=ADMIN)
    assert body["data"]["placeOrder"]["success"] is True


# --- cancelOrder and updateOrder(quantity) -----------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_the_owner_and_admins_cancel_an_order(client: Any, orders: Orders, who: str) -> None:
    body = await gql(client, CANCEL, {"id": orders.alice}, headers=CALLERS[who])
    assert body == {"data": {"cancelOrder": {"success": True, "order": {"status": "CANCELLED"}}}}


async def test_another_user_cannot_cancel_an_order(client: Any, orders: Orders) -> None:
    body = await gql(client, CANCEL, {"id": orders.alice}, headers=BOB)
    assert_forbidden(body)
    assert (await as_admin(client, orders.alice) or {})["status"] == "PENDING"


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_the_owner_and_admins_change_the_quantity(
    client: Any, orders: Orders, who: str
) -> None:
    body = await gql(client, UPDATE, {"id": orders.alice, "quantity": 5}, headers=CALLERS[who])
    assert body["data"]["updateOrder"] == {
        "success": True,
        "order": {"status": "PENDING", "quantity": 5},
    }


async def test_another_user_cannot_change_the_quantity(client: Any, orders: Orders) -> None:
    body = await gql(client, UPDATE, {"id": orders.alice, "quantity": 5}, headers=BOB)
    assert_forbidden(body)
    assert (await as_admin(client, orders.alice) or {})["quantity"] == 1


async def test_the_owner_may_cancel_through_update_order_in_any_letter_case(
    client: Any, orders: Orders
) -> None:
    body = await gql(client, UPDATE, {"id": orders.alice, "status": "cancelled"}, headers=ALICE)
    assert body["data"]["updateOrder"]["order"]["status"] == "CANCELLED"


# --- updateOrder(status) other than CANCELLED, deleteOrder -----------------------------------


@pytest.mark.parametrize("status", ["CONFIRMED", "Shipped", "REJECTED"])
@pytest.mark.parametrize("who", ["owner", "other"])
async def test_only_admins_move_an_order_to_another_status(
    client: Any, orders: Orders, who: str, status: str
) -> None:
    body = await gql(client, UPDATE, {"id": orders.alice, "status": status}, headers=CALLERS[who])
    assert_forbidden(body)
    assert (await as_admin(client, orders.alice) or {})["status"] == "PENDING"


async def test_an_admin_moves_an_order_to_another_status(client: Any, orders: Orders) -> None:
    body = await gql(client, UPDATE, {"id": orders.alice, "status": "SHIPPED"}, headers=ADMIN)
    assert body["data"]["updateOrder"]["order"]["status"] == "SHIPPED"


@pytest.mark.parametrize("who", ["owner", "other"])
async def test_only_admins_delete_orders(client: Any, orders: Orders, who: str) -> None:
    body = await gql(client, DELETE, {"id": orders.alice}, headers=CALLERS[who])
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "Only an admin can delete orders"
    assert await as_admin(client, orders.alice) is not None


async def test_an_admin_deletes_an_order(client: Any, orders: Orders) -> None:
    body = await gql(client, DELETE, {"id": orders.alice}, headers=ADMIN)
    assert body == {"data": {"deleteOrder": {"success": True}}}
    assert await as_admin(client, orders.alice) is None


# --- who counts as an admin ------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": ["user", "admin"]},
        {"roles": "user admin"},
        {"scope": "orders:read orders:admin"},
    ],
    ids=["roles list", "roles string", "orders:admin scope"],
)
async def test_admin_rights_come_from_the_roles_claim_or_the_orders_admin_scope(
    client: Any, orders: Orders, claims: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {make_token('5', **claims)}"}
    body = await gql(client, LIST, headers=headers)
    assert len(body["data"]["getOrders"]) == 3


@pytest.mark.parametrize(
    "claims",
    [{"roles": ["administrator"]}, {"roles": "admins"}, {"scope": "admin"}, {"role": "admin"}],
)
async def test_lookalike_claims_do_not_make_an_admin(
    client: Any, orders: Orders, claims: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {make_token('5', **claims)}"}
    body = await gql(client, LIST, headers=headers)
    assert body == {"data": {"getOrders": []}}

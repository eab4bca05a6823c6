"""Queries across the three subgraphs through @apollo/gateway, which runs the router's query
plans: the token travels to the orders subgraph and its error codes come back unchanged."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_seed_operations import GET_ORDER, GET_ORDERS, PLACE, UPDATE
from tests.federation.stack import Stack
from tests.support import ADMIN, bearer

PLACE_FOR = """
  mutation ($user: ID!, $product: ID!, $quantity: Int!) {
    placeOrder(userId: $user, productId: $product, quantity: $quantity) { success message }
  }
"""


async def place(fed: Stack, user: int, product: int, quantity: int = 1) -> None:
    """Place an order through the gateway as the user themselves."""
    body = await fed.gateway(
        PLACE_FOR,
        variables={"user": user, "product": product, "quantity": quantity},
        headers=bearer(user),
    )
    assert body == {
        "data": {"placeOrder": {"success": True, "message": "Order placed successfully"}}
    }


def error_codes(body: dict[str, Any]) -> list[tuple[list[Any], str, str]]:
    return [
        (e.get("path"), e["extensions"]["code"], e["extensions"].get("serviceName"))
        for e in body["errors"]
    ]


async def test_the_seed_operations_work_verbatim_through_the_gateway(fed: Stack) -> None:
    placed = await fed.gateway(PLACE, headers=ADMIN)
    assert placed["data"]["placeOrder"]["order"] == {
        "id": "1",
        "userId": "1",
        "productId": "1",
        "quantity": 2,
        "status": "PENDING",
    }
    updated = await fed.gateway(UPDATE, headers=ADMIN)
    assert updated == {
        "data": {"updateOrder": {"success": True, "message": "Order updated successfully"}}
    }
    shipped = {"id": "1", "userId": "1", "productId": "1", "quantity": 2, "status": "SHIPPED"}
    assert await fed.gateway(GET_ORDERS, headers=ADMIN) == {"data": {"getOrders": [shipped]}}
    assert await fed.gateway(GET_ORDER, headers=ADMIN) == {"data": {"getOrder": shipped}}


async def test_a_user_sees_their_orders_with_product_names_and_prices(fed: Stack) -> None:
    await place(fed, user=7, product=3, quantity=1)
    await place(fed, user=7, product=5, quantity=4)
    await place(fed, user=8, product=5, quantity=2)

    body = await fed.gateway(
        '{ user(id: "7") { name orders { quantity status product { name price } } } }',
        headers=bearer(7),
    )
    assert body == {
        "data": {
            "user": {
                "name": "User 7",
                "orders": [
                    {
                        "quantity": 4,
                        "status": "PENDING",
                        "product": {"name": "Product 5", "price": 7.5},
                    },
                    {
                        "quantity": 1,
                        "status": "PENDING",
                        "product": {"name": "Product 3", "price": 4.5},
                    },
                ],
            }
        }
    }


async def test_an_admin_sees_who_ordered_a_product_and_a_user_only_themselves(
    fed: Stack,
) -> None:
    await place(fed, user=1, product=9)
    await place(fed, user=2, product=9)
    await place(fed, user=2, product=10)
    query = '{ product(id: "9") { name orders { user { email } } } }'

    as_admin = await fed.gateway(query, headers=ADMIN)
    assert as_admin == {
        "data": {
            "product": {
                "name": "Product 9",
                "orders": [
                    {"user": {"email": "user2@example.com"}},
                    {"user": {"email": "user1@example.com"}},
                ],
            }
        }
    }
    as_user_1 = await fed.gateway(query, headers=bearer(1))
    assert as_user_1["data"]["product"]["orders"] == [{"user": {"email": "user1@example.com"}}]


async def test_get_orders_names_each_orders_user_and_product(fed: Stack) -> None:
    await place(fed, user=3, product=11)
    await place(fed, user=4, product=12)

    body = await fed.gateway("{ getOrders { user { name } product { name } } }", headers=ADMIN)
    assert body == {
        "data": {
            "getOrders": [
                {"user": {"name": "User 4"}, "product": {"name": "Product 12"}},
                {"user": {"name": "User 3"}, "product": {"name": "Product 11"}},
            ]
        }
    }


async def test_without_a_token_order_fields_are_unauthenticated_through_the_gateway(
    fed: Stack,
) -> None:
    await place(fed, user=1, product=1)

    listed = await fed.gateway("{ getOrders { id } }")
    assert listed["data"] is None
    assert error_codes(listed) == [(["getOrders"], "UNAUTHENTICATED", "orders")]

    # The users subgraph still answers; only the orders part is refused.
    nested = await fed.gateway('{ user(id: "1") { name orders { id } } }')
    assert nested["data"] == {"user": None}
    assert error_codes(nested) == [(["user", "orders"], "UNAUTHENTICATED", "orders")]

    forged = await fed.gateway("{ getOrders { id } }", headers={"Authorization": "Bearer x.y.z"})
    assert error_codes(forged) == [(["getOrders"], "UNAUTHENTICATED", "orders")]


async def test_acting_for_someone_else_is_forbidden_through_the_gateway(fed: Stack) -> None:
    for_someone_else = await fed.gateway(
        PLACE_FOR, variables={"user": 2, "product": 1, "quantity": 1}, headers=bearer(1)
    )
    assert for_someone_else["data"] is None
    assert error_codes(for_someone_else) == [(["placeOrder"], "FORBIDDEN", "orders")]

    await place(fed, user=1, product=1)
    deleting = await fed.gateway("mutation { deleteOrder(id: 1) { success } }", headers=bearer(1))
    assert error_codes(deleting) == [(["deleteOrder"], "FORBIDDEN", "orders")]

    remaining = await fed.gateway("{ getOrders { userId } }", headers=ADMIN)
    assert remaining == {"data": {"getOrders": [{"userId": "1"}]}}

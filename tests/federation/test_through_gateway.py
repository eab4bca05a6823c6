"""Queries across the three subgraphs through each gateway (@apollo/gateway, which runs the
router's query plans, Hive Gateway and Grafbase): the token travels to the orders subgraph and
its error codes come back unchanged.

Where the gateways differ by design, each test says so: Grafbase refuses integer literals and
variables for `ID` (the seed's operations reach it with string ids, see `Stack.operation`), and
names no subgraph in the errors it passes through, while the other two add `serviceName`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.test_seed_operations import GET_ORDER, GET_ORDERS, PLACE, UPDATE
from tests.federation.stack import Stack, reads_orders_table
from tests.support import ADMIN, bearer

# `extensions.serviceName` of a subgraph's error: @apollo/gateway (our gateway.mjs) and Hive
# name the subgraph; Grafbase passes the error through as the subgraph wrote it.
SERVICE_NAME = {"apollo-gateway": "orders", "hive": "orders", "grafbase": None}

PLACE_FOR = """
  mutation ($user: ID!, $product: ID!, $quantity: Int!) {
    placeOrder(userId: $user, productId: $product, quantity: $quantity) { success message }
  }
"""


async def place(fed: Stack, user: int, product: int, quantity: int = 1) -> None:
    """Place an order through the gateway as the user themselves (ids sent as strings, which
    every gateway takes)."""
    body = await fed.gateway(
        PLACE_FOR,
        variables={"user": str(user), "product": str(product), "quantity": quantity},
        headers=bearer(user),
    )
    assert body == {
        "data": {"placeOrder": {"success": True, "message": "Order placed successfully"}}
    }


def error_codes(body: dict[str, Any]) -> list[tuple[list[Any], str, str | None]]:
    return [
        (e.get("path"), e["extensions"]["code"], e["extensions"].get("serviceName"))
        for e in body["errors"]
    ]


async def order_reads_since(fed: Stack, before: int) -> list[str]:
    """Statements on `orders` since `before` (the live-updates feed reads the outbox on its
    own, so those are left out)."""
    return [s for s in (await fed.statements())[before:] if reads_orders_table(s)]


def refused(fed: Stack, path: list[Any], code: str) -> list[tuple[list[Any], str, str | None]]:
    """What the gateway shows for one error of the orders subgraph at `path`."""
    return [(path, code, SERVICE_NAME[fed.gateway_name])]


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
    assert error_codes(listed) == refused(fed, ["getOrders"], "UNAUTHENTICATED")

    # The users subgraph still answers, but `orders` is non-null, so every gateway nulls the
    # whole user (the spec's null propagation) and keeps the error at the orders' path.
    nested = await fed.gateway('{ user(id: "1") { name orders { id } } }')
    assert nested["data"] == {"user": None}
    assert error_codes(nested) == refused(fed, ["user", "orders"], "UNAUTHENTICATED")

    forged = await fed.gateway("{ getOrders { id } }", headers={"Authorization": "Bearer x.y.z"})
    assert forged["data"] is None
    assert error_codes(forged) == refused(fed, ["getOrders"], "UNAUTHENTICATED")
    assert forged["errors"][0]["message"] == "Token is malformed or invalid"


async def test_acting_for_someone_else_is_forbidden_through_the_gateway(fed: Stack) -> None:
    for_someone_else = await fed.gateway(
        PLACE_FOR, variables={"user": "2", "product": "1", "quantity": 1}, headers=bearer(1)
    )
    assert for_someone_else["data"] is None
    assert error_codes(for_someone_else) == refused(fed, ["placeOrder"], "FORBIDDEN")

    await place(fed, user=1, product=1)
    deleting = await fed.gateway("mutation { deleteOrder(id: 1) { success } }", headers=bearer(1))
    assert deleting["data"] is None
    assert error_codes(deleting) == refused(fed, ["deleteOrder"], "FORBIDDEN")

    remaining = await fed.gateway("{ getOrders { userId } }", headers=ADMIN)
    assert remaining == {"data": {"getOrders": [{"userId": "1"}]}}


async def test_a_user_sees_only_their_own_orders_across_subgraphs(fed: Stack) -> None:
    await place(fed, user=7, product=3)
    await place(fed, user=8, product=4)

    body = await fed.gateway("{ getOrders { user { name } product { name } } }", headers=bearer(7))
    assert body == {
        "data": {"getOrders": [{"user": {"name": "User 7"}, "product": {"name": "Product 3"}}]}
    }


@pytest.mark.parametrize("stack", ["grafbase"], indirect=True)
async def test_grafbase_refuses_integer_literals_for_ids_before_calling_us(fed: Stack) -> None:
    # Grafbase 0.103's validation, by design of that gateway (the GraphQL spec lets ID take
    # integers); its recipe in the README says to send string ids.
    before = len(await fed.statements())
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            fed.gateway_url, json={"query": "{ getOrder(id: 1) { id } }"}, headers=ADMIN
        )
    assert response.json() == {
        "errors": [
            {
                "message": "Found a Integer value where we expected a ID scalar",
                "locations": [{"line": 1, "column": 16}],
                "extensions": {"code": "OPERATION_VALIDATION_ERROR"},
            }
        ]
    }
    assert await order_reads_since(fed, before) == []


@pytest.mark.parametrize("stack", ["hive"], indirect=True)
@pytest.mark.parametrize(
    "query",
    [
        "{ users(first: 5) { orders(limit: 1000) { id product { name } } } }",
        "{ getOrders(limit: 1000) { user { orders(limit: 1000) { id } } } }",
    ],
    ids=["user-orders", "orders-of-order-users"],
)
async def test_hive_refuses_a_deep_selection_by_its_listsize_cost(fed: Stack, query: str) -> None:
    # Hive's demand control reads our @listSize(slicingArguments: ["limit"]): `limit` is the
    # page size it multiplies by (gateways/hive/gateway.config.ts sets maxCost 1500).
    before = len(await fed.statements())
    body = await fed.gateway(query, headers=ADMIN)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["COST_ESTIMATED_TOO_EXPENSIVE"]
    assert body["errors"][0]["extensions"]["cost"]["max"] == 1500
    assert body["errors"][0]["extensions"]["cost"]["estimated"] > 1500
    # Refused before the orders subgraph was asked for anything.
    assert await order_reads_since(fed, before) == []

    await place(fed, user=1, product=2)
    small = await fed.gateway(query.replace("1000", "5"), headers=ADMIN)
    assert "errors" not in small, small

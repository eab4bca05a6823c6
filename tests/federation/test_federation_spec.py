"""The subgraph side of the federation spec, called as a router calls it: `_service` and
`_entities` straight on the running orders subgraph."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import DocumentNode, parse

from tests.federation.sdl import directive_uses
from tests.federation.stack import Stack
from tests.support import ADMIN, bearer

ENTITIES = """
  query ($representations: [_Any!]!) {
    _entities(representations: $representations) {
      __typename
      ... on User { id orders { id } }
      ... on Product { id orders { id } }
      ... on Order { id userId productId quantity }
    }
  }
"""

FEDERATION_LINK = "https://specs.apollo.dev/federation/v2.11"


@pytest.fixture
async def sdl(stack: Stack) -> DocumentNode:
    body = await stack.orders("{ _service { sdl } }")
    return parse(body["data"]["_service"]["sdl"])


async def test_service_sdl_links_federation_v2_11_and_imports_what_it_uses(
    sdl: DocumentNode, stack: Stack
) -> None:
    links = {str(args["url"]): args.get("import", []) for _, args in directive_uses(sdl, "link")}
    assert FEDERATION_LINK in links, links
    router_directives = {f"@{name}" for name in stack.federation_directives}
    assert set(links[FEDERATION_LINK]) == {"@key", *router_directives}


async def test_every_order_field_is_marked_authenticated_when_the_sdl_carries_it(
    sdl: DocumentNode, stack: Stack
) -> None:
    marked = {coordinate for coordinate, _ in directive_uses(sdl, "authenticated")}
    every_order_field = {
        "Query.getOrders",
        "Query.getOrder",
        "Mutation.placeOrder",
        "Mutation.updateOrder",
        "Mutation.cancelOrder",
        "Mutation.deleteOrder",
        "User.orders",
        "Product.orders",
    }
    assert marked == (
        every_order_field if "authenticated" in stack.federation_directives else set()
    )


async def test_every_paged_list_is_sized_by_its_limit_argument_when_the_sdl_carries_it(
    sdl: DocumentNode, stack: Stack
) -> None:
    sized = {coordinate: args for coordinate, args in directive_uses(sdl, "listSize")}
    paged = {"Query.getOrders", "User.orders", "Product.orders"}
    assert set(sized) == (paged if "listSize" in stack.federation_directives else set())
    assert all(args["slicingArguments"] == ["limit"] for args in sized.values()), sized


async def test_entities_resolves_users_products_and_orders_in_one_call(fed: Stack) -> None:
    placed = await fed.orders(
        "mutation { placeOrder(userId: 7, productId: 9, quantity: 3) { order { id } } }",
        headers=bearer(7),
    )
    assert placed["data"]["placeOrder"]["order"] == {"id": "1"}

    body = await fed.orders(
        ENTITIES,
        variables={
            "representations": [
                {"__typename": "User", "id": "7"},
                {"__typename": "Order", "id": "1"},
                {"__typename": "Product", "id": "9"},
            ]
        },
        headers=bearer(7),
    )
    assert body == {
        "data": {
            "_entities": [
                {"__typename": "User", "id": "7", "orders": [{"id": "1"}]},
                {
                    "__typename": "Order",
                    "id": "1",
                    "userId": "7",
                    "productId": "9",
                    "quantity": 3,
                },
                {"__typename": "Product", "id": "9", "orders": [{"id": "1"}]},
            ]
        }
    }


async def test_entities_answers_null_for_orders_that_do_not_exist_without_an_error(
    fed: Stack,
) -> None:
    body = await fed.orders(
        ENTITIES,
        variables={
            "representations": [
                {"__typename": "Order", "id": "424242"},
                {"__typename": "Order", "id": "not-a-number"},
            ]
        },
        headers=ADMIN,
    )
    assert body == {"data": {"_entities": [None, None]}}


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ({"id": "1"}, "representations[1] has no __typename"),
        (
            {"__typename": "Invoice", "id": "1"},
            "representations[1] names 'Invoice', which is not an entity of this subgraph"
            " (Order, Product, User)",
        ),
        ({"__typename": "Order"}, "representations[1] (Order) lacks its key field(s) id"),
        (
            {"__typename": "Order", "id": "1", "total": 3},
            "representations[1] (Order) has field(s) this subgraph does not take: total",
        ),
        (
            "Order:1",
            "representations[1] must be an object with __typename and the entity's key fields",
        ),
    ],
    ids=["no-typename", "unknown-typename", "no-id", "extra-field", "not-an-object"],
)
async def test_a_malformed_representation_is_a_bad_user_input_error_naming_it(
    stack: Stack, representation: Any, message: str
) -> None:
    body = await stack.orders(
        ENTITIES,
        variables={"representations": [{"__typename": "User", "id": "1"}, representation]},
        headers=ADMIN,
    )
    assert body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (f"_entities: {message}", "BAD_USER_INPUT")
    ]

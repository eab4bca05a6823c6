"""Guards against hostile documents: depth, aliases, tokens, body size and introspection.

Each refusal is a GraphQL error with a code and no data, never a 500; the limits are
configured once per schema, so a repeated document is parsed and validated once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.security.conftest import error_codes
from tests.support import ADMIN, gql


def nested(levels: int) -> str:
    """getOrders, then Order.user and User.orders alternately, `levels` object fields deep."""
    fields = ["getOrders"] + ["user" if i % 2 else "orders" for i in range(1, levels)]
    return "{ " + " { ".join(fields) + " { id" + " }" * levels + " }"


def only_error(body: dict[str, Any]) -> tuple[str | None, str]:
    assert body["data"] is None
    assert len(body["errors"]) == 1, body
    return error_codes(body)[0], body["errors"][0]["message"]


async def test_a_query_at_the_depth_limit_runs(client: Any) -> None:
    body = await gql(client, nested(12), headers=ADMIN)
    assert body == {"data": {"getOrders": []}}


async def test_a_query_past_the_depth_limit_is_refused(client: Any) -> None:
    body = await gql(client, nested(13), headers=ADMIN)
    assert only_error(body) == (
        "GRAPHQL_VALIDATION_FAILED",
        "'anonymous' exceeds maximum operation depth of 12",
    )


async def test_fragments_do_not_hide_depth(client: Any) -> None:
    deep = nested(13).removeprefix("{ getOrders")
    body = await gql(
        client, f"query Deep {{ ...F }} fragment F on Query {{ getOrders{deep}", headers=ADMIN
    )
    assert only_error(body)[1] == "'Deep' exceeds maximum operation depth of 12"


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


async def test_thirty_aliases_are_accepted(client: Any) -> None:
    body = await gql(client, aliased(30))
    assert len(body["data"]) == 30


async def test_more_aliases_than_the_limit_are_refused(client: Any) -> None:
    body = await gql(client, aliased(31), headers=ADMIN)
    assert only_error(body) == ("GRAPHQL_VALIDATION_FAILED", "31 aliases found. Allowed: 30")


async def test_aliased_copies_of_an_expensive_field_are_refused(client: Any) -> None:
    query = "{ " + " ".join(f"o{i}: getOrders(limit: 1000) {{ id }}" for i in range(50)) + " }"
    body = await gql(client, query, headers=ADMIN)
    assert only_error(body) == ("GRAPHQL_VALIDATION_FAILED", "50 aliases found. Allowed: 30")


async def test_a_document_within_the_token_limit_is_parsed(client: Any) -> None:
    body = await gql(client, "{ " + "__typename " * 500 + "}")
    assert body == {"data": {"__typename": "Query"}}


async def test_a_document_past_the_token_limit_is_refused_before_validation(client: Any) -> None:
    body = await gql(client, "{ " + "__typename " * 1999 + "}", headers=ADMIN)  # 2001 tokens
    assert only_error(body) == (
        "GRAPHQL_PARSE_FAILED",
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.",
    )


async def test_a_syntax_error_is_a_coded_parse_error(client: Any) -> None:
    body = await gql(client, "{ getOrders { id }", headers=ADMIN)
    assert only_error(body) == ("GRAPHQL_PARSE_FAILED", "Syntax Error: Expected Name, found <EOF>.")


async def test_a_body_over_the_size_limit_is_a_graphql_error_with_413(client: Any) -> None:
    padded = {"query": "{ __typename }" + " " * 100_000}
    response = await client.post("/graphql", json=padded, headers=ADMIN)
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": "Request body is larger than the 100000 bytes accepted",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }


async def test_a_body_just_under_the_size_limit_is_served(client: Any) -> None:
    padded = {"query": "{ __typename }" + " " * 99_000}
    response = await client.post("/graphql", json=padded)
    assert response.json() == {"data": {"__typename": "Query"}}


INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Order") { name } }',
    "{ _service { sdl } __schema { types { name } } }",
]


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_can_be_switched_off(app_with: AppFactory, query: str) -> None:
    async with app_with(graphql_introspection=False) as client:
        body = await gql(client, query, headers=ADMIN)
    assert body["data"] is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    for error in body["errors"]:
        assert error["message"].startswith("GraphQL introspection has been disabled")


async def test_without_introspection_the_sdl_typename_and_graphiql_are_still_served(
    app_with: AppFactory,
) -> None:
    async with app_with(graphql_introspection=False) as client:
        sdl = await gql(client, "{ _service { sdl } __typename }")
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert 'type Order @key(fields: "id")' in sdl["data"]["_service"]["sdl"]
    assert sdl["data"]["__typename"] == "Query"
    assert page.status_code == 200


async def test_introspection_is_on_by_default_in_development(client: Any) -> None:
    body = await gql(client, INTROSPECTION[0])
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


# --- input the database could not take, and malformed entity representations ----------------

UNSTORABLE = "Text must be valid Unicode without NUL (\\u0000) characters"
BY_PRODUCT = "query($p: ID) { getOrders(productId: $p) { id } }"


async def post_json(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """POST with non-ASCII escaped, as any JSON client may: lone surrogates then arrive intact."""
    response = await client.post(
        "/graphql",
        content=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **ADMIN},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    "payload",
    [
        {"query": BY_PRODUCT, "variables": {"p": "1\x00"}},
        {"query": BY_PRODUCT, "variables": {"p": "1\ud800"}},
        {
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
            "variables": {"r": [{"__typename": "User", "id": "\x00"}]},
        },
    ],
    ids=["NUL in a variable", "lone surrogate in a variable", "NUL in a representation"],
)
async def test_variables_the_database_cannot_store_are_bad_user_input(
    client: Any, payload: dict[str, Any]
) -> None:
    assert await post_json(client, payload) == {
        "data": None,
        "errors": [{"message": UNSTORABLE, "extensions": {"code": "BAD_USER_INPUT"}}],
    }


async def test_a_nul_in_a_string_literal_is_a_validation_error(client: Any) -> None:
    body = await post_json(client, {"query": '{ getOrders(productId: "1\\u0000") { id } }'})
    assert only_error(body) == ("GRAPHQL_VALIDATION_FAILED", UNSTORABLE)


@pytest.mark.parametrize("order_id", ["2147483647", "2147483648", "9223372036854775808", "-1"])
async def test_an_id_no_order_can_have_reads_as_not_found(client: Any, order_id: str) -> None:
    read = await gql(
        client, "query($id: ID!) { getOrder(id: $id) { id } }", {"id": order_id}, ADMIN
    )
    cancel = await gql(
        client,
        "mutation($id: ID!) { cancelOrder(id: $id) { success message } }",
        {"id": order_id},
        ADMIN,
    )
    assert read == {"data": {"getOrder": None}}
    assert cancel == {
        "data": {"cancelOrder": {"success": False, "message": f"Order {order_id} not found"}}
    }


async def test_graphiqls_full_introspection_query_passes_the_guards(client: Any) -> None:
    from graphql import get_introspection_query

    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    body = await gql(client, query)
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"

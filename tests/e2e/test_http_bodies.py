"""Request and response bodies: malformed JSON is a clean 400, text round-trips as UTF-8."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN, gql


async def test_a_body_that_is_not_json_is_a_400_without_internals(client: Any) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename ',
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "Unable to parse request body as JSON" in response.text
    assert "Traceback" not in response.text


async def test_non_ascii_ids_come_back_as_sent(client: Any) -> None:
    body = await gql(
        client,
        'mutation { placeOrder(userId: 1, productId: "café-☕", quantity: 1) '
        "{ success order { productId } } }",
        headers=ADMIN,
    )
    assert body["data"]["placeOrder"] == {"success": True, "order": {"productId": "café-☕"}}

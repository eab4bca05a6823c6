"""Every operation of the contract and every bad input, over HTTP against PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support import ADMIN, bearer, gql

ALICE = bearer("7")
BOB = bearer("8")

PLACE = """
mutation Place($userId: ID!, $productId: ID!, $quantity: Int!, $key: String) {
  placeOrder(userId: $userId, productId: $productId, quantity: $quantity, idempotencyKey: $key) {
    success message order { id userId productId quantity status createdAt updatedAt }
  }
}"""
UPDATE = """
mutation Update($id: ID!, $status: String, $quantity: Int) {
  updateOrder(id: $id, status: $status, quantity: $quantity) {
    success message order { id status quantity history { status reason } }
  }
}"""
CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { success message order { id status } } }"
DELETE = "mutation($id: ID!) { deleteOrder(id: $id) { success message } }"
GET = "query($id: ID!) { getOrder(id: $id) { id status quantity history { status reason at } } }"
LIST = """
query($status: OrderStatus, $userId: ID, $productId: ID, $limit: Int, $offset: Int) {
  getOrders(status: $status, userId: $userId, productId: $productId, limit: $limit, offset: $offset)
  { id userId productId status }
}"""


async def place(client: Any, *, user: str = "7", product: str = "1", quantity: int = 2) -> str:
    body = await gql(
        client,
        PLACE,
        {"userId": user, "productId": product, "quantity": quantity},
        headers=ADMIN,
    )
    assert body["data"]["placeOrder"]["success"] is True, body
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def test_a_placed_order_is_pending_with_timestamps(client: Any) -> None:
    body = await gql(client, PLACE, {"userId": "7", "productId": "3", "quantity": 4}, headers=ALICE)
    order = body["data"]["placeOrder"]["order"]
    assert (order["userId"], order["productId"], order["quantity"], order["status"]) == (
        "7",
        "3",
        4,
        "PENDING",
    )
    assert order["createdAt"] == order["updatedAt"]
    assert order["createdAt"].endswith("+00:00")


@pytest.mark.parametrize("quantity", [0, -5, 10_001])
async def test_an_out_of_range_quantity_is_refused_and_nothing_is_placed(
    client: Any, quantity: int
) -> None:
    body = await gql(
        client, PLACE, {"userId": "7", "productId": "1", "quantity": quantity}, headers=ALICE
    )
    payload = body["data"]["placeOrder"]
    assert payload == {
        "success": False,
        "message": f"Quantity must be between 1 and 10000, got {quantity}",
        "order": None,
    }
    assert (await gql(client, LIST, headers=ADMIN))["data"]["getOrders"] == []


async def test_a_wrongly_typed_argument_is_a_validation_error_not_a_500(client: Any) -> None:
    body = await gql(
        client,
        'mutation { placeOrder(userId: 1, productId: 1, quantity: "two") { success } }',
        headers=ALICE,
    )
    assert body["data"] is None
    assert "Int cannot represent" in body["errors"][0]["message"]


async def test_a_quantity_beyond_32_bits_is_refused_by_graphql(client: Any) -> None:
    body = await gql(
        client, PLACE, {"userId": "7", "productId": "1", "quantity": 2**40}, headers=ALICE
    )
    assert body.get("data") is None
    assert "Int cannot represent" in body["errors"][0]["message"]


@pytest.mark.parametrize("text", ["Shipped", "SHIPPED", "shipped"])
async def test_update_status_accepts_any_letter_case(client: Any, text: str) -> None:
    order_id = await place(client)
    body = await gql(client, UPDATE, {"id": order_id, "status": text}, headers=ADMIN)
    payload = body["data"]["updateOrder"]
    assert payload["success"] is True
    assert payload["order"]["status"] == "SHIPPED"
    assert [h["status"] for h in payload["order"]["history"]] == ["PENDING", "SHIPPED"]


async def test_an_unknown_status_is_refused_with_the_allowed_values(client: Any) -> None:
    order_id = await place(client)
    body = await gql(client, UPDATE, {"id": order_id, "status": "lost"}, headers=ADMIN)
    payload = body["data"]["updateOrder"]
    assert payload["success"] is False
    assert payload["message"] == (
        "Unknown status 'lost'; allowed values: "
        "PENDING, CONFIRMED, REJECTED, SHIPPED, DELIVERED, CANCELLED"
    )


async def test_a_forbidden_move_is_refused_and_the_order_is_unchanged(client: Any) -> None:
    order_id = await place(client)
    body = await gql(client, UPDATE, {"id": order_id, "status": "delivered"}, headers=ADMIN)
    assert body["data"]["updateOrder"] == {
        "success": False,
        "message": "Cannot move an order from PENDING to DELIVERED; "
        "allowed: CANCELLED, CONFIRMED, REJECTED, SHIPPED",
        "order": None,
    }
    got = await gql(client, GET, {"id": order_id}, headers=ADMIN)
    assert got["data"]["getOrder"]["status"] == "PENDING"


async def test_quantity_changes_only_while_pending(client: Any) -> None:
    order_id = await place(client, quantity=2)
    ok = await gql(client, UPDATE, {"id": order_id, "quantity": 9}, headers=ALICE)
    assert ok["data"]["updateOrder"]["order"]["quantity"] == 9
    await gql(client, UPDATE, {"id": order_id, "status": "confirmed"}, headers=ADMIN)
    late = await gql(client, UPDATE, {"id": order_id, "quantity": 3}, headers=ALICE)
    assert late["data"]["updateOrder"]["success"] is False
    assert "only while the order is PENDING" in late["data"]["updateOrder"]["message"]


async def test_an_update_naming_nothing_is_refused(client: Any) -> None:
    order_id = await place(client)
    body = await gql(client, UPDATE, {"id": order_id}, headers=ADMIN)
    assert body["data"]["updateOrder"]["success"] is False
    assert "give a status or a quantity" in body["data"]["updateOrder"]["message"]


@pytest.mark.parametrize("mutation", [UPDATE, CANCEL, DELETE])
@pytest.mark.parametrize("unknown", ["999", "abc", "-1"])
async def test_unknown_ids_are_not_found_payloads(client: Any, mutation: str, unknown: str) -> None:
    variables: dict[str, Any] = {"id": unknown}
    if mutation is UPDATE:
        variables["status"] = "shipped"
    body = await gql(client, mutation, variables, headers=ADMIN)
    (payload,) = body["data"].values()
    assert payload["success"] is False
    assert payload["message"] == f"Order {unknown} not found"


async def test_get_order_of_an_unknown_id_is_null(client: Any) -> None:
    body = await gql(client, GET, {"id": "424242"}, headers=ADMIN)
    assert body == {"data": {"getOrder": None}}


async def test_cancelling_records_who_cancelled_in_the_history(client: Any) -> None:
    order_id = await place(client, user="7")
    body = await gql(client, CANCEL, {"id": order_id}, headers=ALICE)
    assert body["data"]["cancelOrder"]["order"]["status"] == "CANCELLED"
    got = await gql(client, GET, {"id": order_id}, headers=ALICE)
    history = got["data"]["getOrder"]["history"]
    assert [(h["status"], h["reason"]) for h in history] == [
        ("PENDING", "placed"),
        ("CANCELLED", "cancelled by user 7"),
    ]
    again = await gql(client, CANCEL, {"id": order_id}, headers=ALICE)
    assert again["data"]["cancelOrder"]["success"] is False
    assert again["data"]["cancelOrder"]["message"] == "Order is already CANCELLED"


async def test_deleting_an_order_makes_it_disappear(client: Any) -> None:
    order_id = await place(client)
    body = await gql(client, DELETE, {"id": order_id}, headers=ADMIN)
    assert body["data"]["deleteOrder"] == {
        "success": True,
        "message": "Order deleted successfully",
    }
    assert (await gql(client, GET, {"id": order_id}, headers=ADMIN))["data"]["getOrder"] is None


async def test_get_orders_filters_and_pages_newest_first(client: Any) -> None:
    a = await place(client, user="7", product="1")
    b = await place(client, user="8", product="1")
    c = await place(client, user="7", product="2")
    await gql(client, CANCEL, {"id": b}, headers=ADMIN)

    async def ids(**variables: Any) -> list[str]:
        body = await gql(client, LIST, variables, headers=ADMIN)
        return [o["id"] for o in body["data"]["getOrders"]]

    assert await ids() == [c, b, a]
    assert await ids(userId=7) == [c, a]
    assert await ids(productId="1") == [b, a]
    assert await ids(status="CANCELLED") == [b]
    assert await ids(limit=1, offset=1) == [b]
    assert await ids(limit=None, offset=None) == [c, b, a]
    assert await ids(limit=0) == []
    # A filter sent as null is a filter left out, as variables and as literals.
    assert await ids(status=None, userId=None, productId=None) == [c, b, a]
    literal = "{ getOrders(status: null, userId: null, productId: null) { id } }"
    body = await gql(client, literal, headers=ADMIN)
    assert [o["id"] for o in body["data"]["getOrders"]] == [c, b, a]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"limit": 1001}, "limit must be between 0 and 1000, got 1001"),
        ({"limit": -1}, "limit must be between 0 and 1000, got -1"),
        ({"offset": -1}, "offset must not be negative, got -1"),
    ],
)
async def test_out_of_range_paging_is_a_bad_user_input_error(
    client: Any, variables: dict[str, int], message: str
) -> None:
    body = await gql(client, LIST, variables, headers=ADMIN)
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == message


async def test_a_variable_of_the_wrong_type_is_a_bad_user_input_error(client: Any) -> None:
    variables = {"userId": "7", "productId": "1", "quantity": "four"}
    body = await gql(client, PLACE, variables, headers=ALICE)
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == (
        "Variable '$quantity' has invalid value: Int cannot represent non-integer value: 'four'"
    )
    listed = await gql(client, LIST, headers=ADMIN)
    assert listed["data"]["getOrders"] == []


async def test_an_idempotent_retry_over_http_returns_the_first_order(client: Any) -> None:
    variables = {"userId": "7", "productId": "1", "quantity": 1, "key": "checkout-123"}
    first = await gql(client, PLACE, variables, headers=ALICE)
    second = await gql(client, PLACE, variables, headers=ALICE)
    assert first["data"]["placeOrder"]["order"] == second["data"]["placeOrder"]["order"]
    listed = await gql(client, LIST, headers=ADMIN)
    assert len(listed["data"]["getOrders"]) == 1


async def test_a_reused_idempotency_key_is_an_error_with_its_code_and_changes_nothing(
    client: Any,
) -> None:
    first = {"userId": "7", "productId": "1", "quantity": 2, "key": "checkout-42"}
    placed = await gql(client, PLACE, first, headers=ALICE)
    retried = await gql(client, PLACE, first, headers=ALICE)
    reused = await gql(client, PLACE, {**first, "productId": "9"}, headers=ALICE)

    order = placed["data"]["placeOrder"]["order"]
    assert retried["data"]["placeOrder"]["order"] == order
    assert reused["data"] is None
    assert [e["extensions"]["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert "'checkout-42'" in reused["errors"][0]["message"]
    listed = await gql(client, LIST, {}, headers=ADMIN)
    assert listed["data"]["getOrders"] == [
        {"id": order["id"], "userId": "7", "productId": "1", "status": "PENDING"}
    ]


async def test_an_oversized_idempotency_key_is_refused(client: Any) -> None:
    variables = {"userId": "7", "productId": "1", "quantity": 1, "key": "k" * 256}
    body = await gql(client, PLACE, variables, headers=ALICE)
    assert body["data"]["placeOrder"]["success"] is False
    assert "idempotencyKey must be 1 to 255 characters" in body["data"]["placeOrder"]["message"]


async def test_unexpected_failures_are_masked_with_a_request_id_and_logged(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from subgraph import service

    async def explode(**_: Any) -> Any:
        raise RuntimeError("SELECT secret_column FROM orders -- database exploded")

    monkeypatch.setattr(service, "list_orders", explode)
    with caplog.at_level(logging.ERROR, logger="subgraph.errors"):
        response = await client.post(
            "/graphql",
            json={"query": "{ getOrders { id } }"},
            headers={**ADMIN, "X-Request-Id": "req-42"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["message"] == "Internal server error (request id req-42)"
    assert body["errors"][0]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "req-42",
    }
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert any("req-42" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_health_endpoints_report_process_and_database(client: Any) -> None:
    live = await client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_graphiql_opens_in_a_browser_without_a_token(client: Any) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_service_sdl_needs_no_token(client: Any) -> None:
    body = await gql(client, "{ _service { sdl } }")
    assert 'type Order @key(fields: "id")' in body["data"]["_service"]["sdl"]


async def test_later_mutations_of_one_request_see_the_earlier_changes(client: Any) -> None:
    order_id = await place(client)
    body = await gql(
        client,
        """mutation($id: ID!) {
          first: updateOrder(id: $id, status: "confirmed") { order { status history { status } } }
          second: updateOrder(id: $id, status: "shipped") { order { status history { status } } }
        }""",
        {"id": order_id},
        headers=ADMIN,
    )
    assert body["data"]["second"]["order"] == {
        "status": "SHIPPED",
        "history": [{"status": "PENDING"}, {"status": "CONFIRMED"}, {"status": "SHIPPED"}],
    }

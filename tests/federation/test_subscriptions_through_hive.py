"""Subscriptions through Hive Gateway (pinned) with the stand-in subgraphs.

The client subscribes to the gateway over SSE; the gateway subscribes to the orders subgraph
over WebSocket (`transportEntries` in gateways/hive/gateway.config.ts), passing the token in
connection_init, and joins the users subgraph's fields into each event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.federation.stack import Stack, running_stack
from tests.live.clients import sse_subscription
from tests.support import make_token, post_graphql_sync

OWNER = make_token("1")
STRANGER = make_token("2")
FOLLOW = "subscription ($id: ID!) { orderUpdated(id: $id) { id status user { name } } }"


@pytest.fixture(scope="module")
def hive(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack("hive", postgres_database, tmp_path_factory.mktemp("hive-live")) as stack:
        yield stack


async def _call(url: str, query: str, token: str) -> dict[str, object]:
    return await asyncio.to_thread(post_graphql_sync, url, query, token)


async def test_order_updated_through_hive_joins_the_users_name_and_forwards_the_token(
    hive: Stack, db: str
) -> None:
    placed = await _call(
        hive.gateway_url,
        'mutation { placeOrder(userId: "1", productId: "1", quantity: 1) { order { id } } }',
        OWNER,
    )
    order_id = placed["data"]["placeOrder"]["order"]["id"]  # type: ignore[index]
    async with (
        sse_subscription(hive.gateway_url, FOLLOW, token=OWNER, variables={"id": order_id}) as mine,
        sse_subscription(
            hive.gateway_url, FOLLOW, token=STRANGER, variables={"id": order_id}
        ) as theirs,
    ):
        await asyncio.sleep(1.0)  # the gateway opens its upstream WebSocket lazily
        cancel = f"mutation {{ cancelOrder(id: {order_id}) {{ success }} }}"
        assert (await _call(hive.gateway_url, cancel, OWNER))["data"] is not None
        event, data = await mine.next()
        assert event == "next"
        assert data["data"]["orderUpdated"] == {
            "id": order_id,
            "status": "CANCELLED",
            "user": {"name": "User 1"},
        }
        # The other user's subscription gets the not-found answer, and nothing of the order.
        event, data = await theirs.next()
        assert (
            "data" not in data or data["data"] is None or data["data"].get("orderUpdated") is None
        )
        assert data["errors"][0]["extensions"]["code"] == "NOT_FOUND"

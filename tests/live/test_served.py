"""Subscriptions against real `orders-subgraph serve` processes on PostgreSQL and RabbitMQ.

The first server runs 2 workers (each connection lands on one of them; several connections
cover both), the second 1 worker on another port, both on the same database and broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest

from tests.live.clients import sse_subscription, ws_connection
from tests.live.conftest import Served
from tests.support import make_token, post_graphql_sync

pytestmark = pytest.mark.usefixtures("db")

ADMIN_TOKEN = make_token("admin-1", admin=True)
ORDER_UPDATED = "subscription ($id: ID!) { orderUpdated(id: $id) { id status quantity } }"
ORDERS_UPDATED = "subscription { ordersUpdated { id userId status } }"


async def call(url: str, query: str, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    return await asyncio.to_thread(post_graphql_sync, url, query, token)


async def place(url: str, user: str = "1", token: str = ADMIN_TOKEN) -> str:
    body = await call(
        url,
        f'mutation {{ placeOrder(userId: "{user}", productId: "7", quantity: 1) '
        "{ success order { id } } }",
        token,
    )
    assert body["data"]["placeOrder"]["success"], body
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


async def update(url: str, order_id: str, status: str) -> None:
    body = await call(
        url, f'mutation {{ updateOrder(id: {order_id}, status: "{status}") {{ success message }} }}'
    )
    assert body["data"]["updateOrder"]["success"], body


async def test_every_connection_on_both_workers_gets_exactly_the_committed_changes_in_order(
    servers: tuple[Served, Served],
) -> None:
    first, _ = servers
    order_id = await place(first.url)
    protocols = ["graphql-transport-ws", "graphql-ws"] * 3  # six connections over two workers
    async with contextlib.AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(_open(first.url, protocol, index))
            for index, protocol in enumerate(protocols)
        ]
        for connection in connections:
            await connection.subscribe("one", ORDER_UPDATED, {"id": order_id})
            await connection.subscribe("all", ORDERS_UPDATED)
        await asyncio.sleep(0.5)
        await update(first.url, order_id, "CONFIRMED")
        await update(first.url, order_id, "SHIPPED")
        other = await place(first.url, user="2")
        await call(first.url, f"mutation {{ deleteOrder(id: {order_id}) {{ success }} }}")
        for connection in connections:
            statuses = [
                (await connection.next_data("one"))["orderUpdated"]["status"] for _ in range(2)
            ]
            assert statuses == ["CONFIRMED", "SHIPPED"]
            done = await connection.receive("one")
            assert done["type"] == "complete", done  # the order was deleted
            seen = [(await connection.next_data("all"))["ordersUpdated"] for _ in range(3)]
            assert [(o["id"], o["status"]) for o in seen] == [
                (order_id, "CONFIRMED"),
                (order_id, "SHIPPED"),
                (other, "PENDING"),
            ]
            await connection.nothing("all", 0.5)  # the deletion is no "placed or changed"


def _open(url: str, protocol: str, index: int) -> Any:
    # Half take the token in connection_init, half in the upgrade request's header.
    return ws_connection(
        url,
        protocol=protocol,
        token=ADMIN_TOKEN if index % 2 == 0 else None,
        header_token=ADMIN_TOKEN if index % 2 else None,
    )


async def test_sse_gets_the_changes_in_order_framed_with_lf(
    servers: tuple[Served, Served],
) -> None:
    first, _ = servers
    order_id = await place(first.url)
    async with sse_subscription(
        first.url, ORDER_UPDATED, token=ADMIN_TOKEN, variables={"id": order_id}
    ) as stream:
        await asyncio.sleep(0.3)
        await update(first.url, order_id, "CONFIRMED")
        await update(first.url, order_id, "SHIPPED")
        events = [await stream.next() for _ in range(2)]
        assert [e for e, _ in events] == ["next", "next"]
        assert [d["data"]["orderUpdated"]["status"] for _, d in events] == ["CONFIRMED", "SHIPPED"]
        await call(first.url, f"mutation {{ deleteOrder(id: {order_id}) {{ success }} }}")
        assert (await stream.next())[0] == "complete"


async def test_sse_lines_end_with_lf_only(servers: tuple[Served, Served]) -> None:
    import httpx

    first, _ = servers
    order_id = await place(first.url)
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"query": ORDER_UPDATED, "variables": {"id": order_id}}
    async with (
        httpx.AsyncClient(timeout=20) as client,
        client.stream("POST", first.url, json=body, headers=headers) as response,
    ):
        await asyncio.sleep(0.3)
        await update(first.url, order_id, "CONFIRMED")
        chunk = await asyncio.wait_for(anext(response.aiter_raw()), 15)
    assert chunk.startswith(b"event: next\ndata: {")
    assert chunk.endswith(b"}\n\n") and b"\r" not in chunk


async def test_a_change_made_through_one_server_reaches_a_subscriber_of_the_other(
    servers: tuple[Served, Served],
) -> None:
    first, second = servers
    order_id = await place(first.url)
    async with ws_connection(second.url, token=ADMIN_TOKEN) as connection:
        await connection.subscribe("one", ORDER_UPDATED, {"id": order_id})
        await asyncio.sleep(0.5)
        await update(first.url, order_id, "CONFIRMED")
        data = await connection.next_data("one")
        assert data["orderUpdated"] == {"id": order_id, "status": "CONFIRMED", "quantity": 1}


async def test_a_rolled_back_change_is_never_sent(
    servers: tuple[Served, Served], postgres_database: str
) -> None:
    first, _ = servers
    order_id = await place(first.url)
    async with ws_connection(first.url, token=ADMIN_TOKEN) as connection:
        await connection.subscribe("one", ORDER_UPDATED, {"id": order_id})
        await asyncio.sleep(0.5)
        # A transaction that wrote its change's outbox row, then rolled back.
        database = await asyncpg.connect(postgres_database)
        try:
            async with database.transaction():
                await database.execute(
                    "UPDATE orders SET status = 'CANCELLED' WHERE id = $1", int(order_id)
                )
                payload = _payload(order_id, "CANCELLED")
                await database.execute(
                    "INSERT INTO order_outbox (event_id, event_type, order_id, payload, "
                    "created_at, attempts) VALUES ($1, 'order.updated', $2, $3, now(), 0)",
                    payload["event_id"],
                    int(order_id),
                    json.dumps(payload),
                )
                raise _RollBack
        except _RollBack:
            pass
        finally:
            await database.close()
        await update(first.url, order_id, "CONFIRMED")
        data = await connection.next_data("one")
        assert data["orderUpdated"]["status"] == "CONFIRMED"
        await connection.nothing("one", 1.0)


class _RollBack(Exception):
    pass


def _payload(order_id: str, status: str) -> dict[str, Any]:
    now = "2026-01-01T00:00:00Z"
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "order.updated",
        "occurred_at": now,
        "version": 1,
        "order": {
            "id": order_id,
            "user_id": "1",
            "product_id": "7",
            "quantity": 1,
            "status": status,
            "created_at": now,
            "updated_at": now,
        },
        "previous_status": "PENDING",
        "previous_quantity": 1,
    }


async def test_a_token_is_required(servers: tuple[Served, Served]) -> None:
    first, _ = servers
    order_id = await place(first.url)
    async with ws_connection(first.url) as connection:
        await connection.subscribe("one", ORDER_UPDATED, {"id": order_id})
        [error] = await connection.ending("one")
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    async with sse_subscription(first.url, ORDERS_UPDATED, token=None) as stream:
        event, data = await stream.next()
        assert event == "next" and data["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await stream.next())[0] == "complete"


async def test_another_users_order_gets_the_answer_of_a_missing_one(
    servers: tuple[Served, Served],
) -> None:
    first, _ = servers
    theirs = await place(first.url, user="2")
    async with ws_connection(first.url, token=make_token("1")) as connection:
        await connection.subscribe("theirs", ORDER_UPDATED, {"id": theirs})
        await connection.subscribe("missing", ORDER_UPDATED, {"id": "999999"})
        [not_yours] = await connection.ending("theirs")
        [missing] = await connection.ending("missing")
    assert not_yours["extensions"] == missing["extensions"] == {"code": "NOT_FOUND"}
    assert not_yours["message"].replace(theirs, "N") == missing["message"].replace("999999", "N")


async def test_a_user_follows_only_their_own_orders(servers: tuple[Served, Served]) -> None:
    first, _ = servers
    mine = make_token("1")
    async with ws_connection(first.url, token=mine) as connection:
        await connection.subscribe("others", "subscription { ordersUpdated(userId: 2) { id } }")
        [error] = await connection.ending("others")
        assert error["extensions"]["code"] == "FORBIDDEN"
        await connection.subscribe("mine", ORDERS_UPDATED)
        await asyncio.sleep(0.5)
        await place(first.url, user="2")
        own = await place(first.url, user="1", token=mine)
        data = await connection.next_data("mine")
        assert data["ordersUpdated"] == {"id": own, "userId": "1", "status": "PENDING"}
        await connection.nothing("mine", 1.0)


async def test_a_subscription_ends_with_one_unauthenticated_error_when_its_token_expires(
    servers: tuple[Served, Served],
) -> None:
    first, _ = servers
    short = make_token("admin-1", admin=True, exp=int(time.time()) + 3)
    async with ws_connection(first.url, token=short) as connection:
        await connection.subscribe("all", ORDERS_UPDATED)
        await asyncio.sleep(0.5)
        await place(first.url)
        assert (await connection.next_data("all"))["ordersUpdated"]["status"] == "PENDING"
        [error] = await connection.ending("all", seconds=10)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "expired" in error["message"]


async def test_beyond_the_connection_limit_a_subscription_gets_a_coded_error(
    servers: tuple[Served, Served],
) -> None:
    first, _ = servers  # SUBSCRIPTIONS_PER_CONNECTION=4
    async with ws_connection(first.url, token=ADMIN_TOKEN) as connection:
        for key in "abcd":
            await connection.subscribe(key, ORDERS_UPDATED)
        await asyncio.sleep(0.5)
        await connection.subscribe("e", ORDERS_UPDATED)
        [error] = await connection.ending("e")
        assert error["extensions"]["code"] == "SUBSCRIPTION_LIMIT_REACHED"
        await connection.stop("a")
        await asyncio.sleep(0.3)
        await connection.subscribe("f", ORDERS_UPDATED)
        order_id = await place(first.url)
        for key in "bcdf":
            assert (await connection.next_data(key))["ordersUpdated"]["id"] == order_id


async def test_with_the_broker_down_subscriptions_still_get_every_change(
    broker_down_server: Served,
) -> None:
    async with ws_connection(broker_down_server.url, token=ADMIN_TOKEN) as connection:
        await connection.subscribe("all", ORDERS_UPDATED)
        await asyncio.sleep(0.5)
        order_id = await place(broker_down_server.url)
        await update(broker_down_server.url, order_id, "CONFIRMED")
        seen = [(await connection.next_data("all"))["ordersUpdated"]["status"] for _ in range(2)]
        assert seen == ["PENDING", "CONFIRMED"]

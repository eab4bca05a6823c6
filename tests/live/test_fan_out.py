"""The hub, the outbox feed's bookkeeping, and subscriptions run through the schema in process:
overflow, the per-worker limit and token expiry on an injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from subgraph.api import subscriptions
from subgraph.api.context import Caller, Services
from subgraph.api.loaders import Loaders
from subgraph.api.schema import build_schema
from subgraph.api.subscriptions import ConnectionContext, token_header
from subgraph.auth.verification import TokenVerifier
from subgraph.domain.order import Order, OrderStatus
from subgraph.live.hub import OVERFLOWS, Change, Hub, LimitReached, Overflowed
from subgraph.live.outbox_feed import FeedOptions, OutboxFeed
from subgraph.settings import get_settings
from tests.support import make_token

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def change(order_id: int, status: str = "PENDING", *, user: str = "1", position: int = 1) -> Change:
    order = Order(
        id=order_id,
        user_id=user,
        product_id="7",
        quantity=1,
        status=OrderStatus(status),
        created_at=NOW,
        updated_at=NOW,
    )
    return Change(
        event_id=f"e{position}", event_type="order.updated", order=order, position=position
    )


async def test_the_hub_offers_each_change_to_the_subscribers_it_matches_in_order() -> None:
    hub = Hub(queue_size=10, max_subscriptions=10)
    one = hub.subscribe(order_id=1, matches=lambda c: True)
    wide = hub.subscribe(order_id=None, matches=lambda c: c.order.user_id == "2")
    for position, (order_id, user) in enumerate([(1, "1"), (2, "2"), (1, "1")], start=1):
        hub.publish(change(order_id, user=user, position=position))
    assert [(await one.next(within=1)).position for _ in range(2)] == [1, 3]  # type: ignore[union-attr]
    assert (await wide.next(within=1)).position == 2  # type: ignore[union-attr]
    assert await wide.next(within=0.05) is None
    one.close()
    wide.close()
    assert hub.subscriptions == 0


async def test_a_full_queue_ends_that_subscriber_only_and_is_counted() -> None:
    hub = Hub(queue_size=2, max_subscriptions=10)
    slow = hub.subscribe(order_id=None, matches=lambda c: True)
    fast = hub.subscribe(order_id=None, matches=lambda c: True)
    before = OVERFLOWS.value
    for position in range(1, 4):
        hub.publish(change(1, position=position))
        assert (await fast.next(within=1)) is not None
    assert OVERFLOWS.value == before + 1
    assert hub.subscriptions == 1
    with pytest.raises(Overflowed):
        await slow.next(within=1)


def test_the_worker_limit_refuses_one_more() -> None:
    hub = Hub(queue_size=2, max_subscriptions=1)
    hub.subscribe(order_id=None, matches=lambda c: True)
    with pytest.raises(LimitReached):
        hub.subscribe(order_id=1, matches=lambda c: True)


def test_the_token_is_found_where_clients_and_routers_put_it() -> None:
    assert token_header({"Authorization": "Bearer a"}) == "Bearer a"
    assert token_header({"authorization": "Bearer b"}) == "Bearer b"
    assert token_header({"headers": {"authorization": "Bearer c"}}) == "Bearer c"
    assert token_header({"token": "d"}) == "Bearer d"
    assert token_header({}) is None


def _row(row_id: int) -> dict[str, Any]:
    payload = change(row_id).order
    return {
        "id": row_id,
        "payload": {
            "event_id": f"e{row_id}",
            "event_type": "order.updated",
            "order": {
                "id": str(payload.id),
                "user_id": "1",
                "product_id": "7",
                "quantity": 1,
                "status": "PENDING",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            },
        },
    }


def test_a_lower_id_committed_later_is_delivered_once_and_a_hole_is_given_up() -> None:
    hub = Hub(queue_size=100, max_subscriptions=10)
    seen = hub.subscribe(order_id=None, matches=lambda c: True)
    now = [0.0]
    feed = OutboxFeed(
        SimpleNamespace(), hub, options=FeedOptions(hole_seconds=5), clock=lambda: now[0]
    )  # type: ignore[arg-type]
    feed._take([_row(1), _row(3)])  # 2 is not committed yet
    assert feed._last == 1
    feed._take([_row(2), _row(3), _row(5)])  # 2 arrives; 3 is not delivered again; 4 missing
    assert [c.position for c in seen.pending] == [1, 3, 2, 5]
    assert feed._last == 3
    now[0] = 6.0
    feed._take([_row(5)])  # 4 rolled back: given up after hole_seconds
    assert feed._last == 5
    assert [c.position for c in seen.pending] == [1, 3, 2, 5]


# ----- through the schema, in process ---------------------------------------------------------


class _Live:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.running = True
        self.settings = get_settings().model_copy(update={"subscriptions_per_connection": 5})
        self.feed = SimpleNamespace(newest=self._newest)

    async def _newest(self) -> int:
        return 0


class _Reads:
    async def get_many(self, ids: list[int]) -> dict[int, Order]:
        return {i: change(i).order for i in ids}


def _context(hub: Hub, token: str) -> ConnectionContext:
    settings = get_settings()
    services = Services(verifier=TokenVerifier(settings), reads=_Reads(), unit_of_work=lambda: None)  # type: ignore[arg-type]
    socket = SimpleNamespace(app=SimpleNamespace(), headers={})
    caller = Caller(services.verifier, f"Bearer {token}")
    live = _Live(hub)
    socket.app.state = SimpleNamespace(get=lambda key: live if key == "live" else None)
    return ConnectionContext(
        websocket=socket,  # type: ignore[arg-type]
        services=services,
        authorization=f"Bearer {token}",
        caller=caller,
        reads=services.reads,
        unit_of_work=services.unit_of_work,
        loaders=Loaders(reads=services.reads, principal=caller.principal),
    )


async def _stream(hub: Hub, query: str, token: str) -> Any:
    schema = build_schema(get_settings())
    stream = await schema.subscribe(query, context_value=_context(hub, token))
    return stream


async def _until_subscribed(hub: Hub, count: int = 1) -> None:
    async with asyncio.timeout(5):
        while hub.subscriptions < count:  # noqa: ASYNC110 - the hub has no event for this
            await asyncio.sleep(0.01)


async def test_a_client_that_falls_a_queue_behind_gets_subscription_overflow() -> None:
    hub = Hub(queue_size=3, max_subscriptions=10)
    stream = await _stream(
        hub, "subscription { ordersUpdated { id } }", make_token("1", admin=True)
    )
    first = asyncio.ensure_future(anext(stream))
    await _until_subscribed(hub)
    hub.publish(change(1, position=1))
    assert (await first).data == {"ordersUpdated": {"id": "1"}}
    for position in range(2, 7):  # the client reads nothing meanwhile
        hub.publish(change(position, position=position))
    result = await anext(stream)
    assert result.errors[0].extensions == {"code": "SUBSCRIPTION_OVERFLOW"}
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_beyond_the_worker_limit_a_subscription_gets_a_coded_error() -> None:
    hub = Hub(queue_size=3, max_subscriptions=1)
    token = make_token("1", admin=True)
    held = await _stream(hub, "subscription { ordersUpdated { id } }", token)
    waiting = asyncio.ensure_future(anext(held))
    await _until_subscribed(hub)
    refused = await _stream(hub, "subscription { ordersUpdated { id } }", token)
    result = await anext(refused)
    assert result.errors[0].extensions == {"code": "SUBSCRIPTION_LIMIT_REACHED"}
    waiting.cancel()


async def test_expiry_follows_the_injected_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000.0]
    monkeypatch.setattr(subscriptions, "clock", lambda: now[0])
    hub = Hub(queue_size=3, max_subscriptions=10)
    token = make_token("1", admin=True)  # exp: the real time + 600 s
    import jwt

    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    now[0] = exp - 0.2
    stream = await _stream(hub, "subscription { ordersUpdated { id } }", token)
    ending = asyncio.ensure_future(anext(stream))
    await _until_subscribed(hub)
    hub.publish(change(1, position=1))
    assert (await ending).data == {"ordersUpdated": {"id": "1"}}  # still valid
    ending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.1)
    assert not ending.done()
    now[0] = exp + 1  # the token's exp passes (the verifier's leeway does not extend it)
    result = await asyncio.wait_for(ending, 5)
    assert result.errors[0].extensions == {"code": "UNAUTHENTICATED"}
    assert hub.subscriptions == 0

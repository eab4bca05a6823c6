"""The relay inside the served app: start-up and requests never wait for the broker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.messaging.conftest import CLOSED_PORT_URL, EventTap, eventually, fast_settings
from tests.support import bearer, gql

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

PLACE = """
mutation ($user: ID!) {
  placeOrder(userId: $user, productId: "p1", quantity: 1) { success order { id } }
}
"""


@asynccontextmanager
async def _app(settings: Any) -> AsyncIterator[Any]:
    from subgraph.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def _place(client: Any, user: str) -> str:
    body = await gql(client, PLACE, {"user": user}, bearer(user))
    assert body["data"]["placeOrder"]["success"] is True
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


async def test_with_the_broker_down_orders_are_accepted_and_readiness_reports_the_backlog(
    empty_db: str,
) -> None:
    async with _app(fast_settings(CLOSED_PORT_URL)) as client:
        for user in ("u1", "u2"):
            await _place(client, user)
        ready = await client.get("/health/ready")

    assert ready.status_code == 200
    body = ready.json()
    assert body["broker"] == "connecting"
    assert body["outbox"]["unpublished"] == 2
    assert body["outbox"]["oldest_age_seconds"] >= 0


class _Remember(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_without_a_broker_url_events_stay_in_the_outbox_and_a_log_line_says_so(
    empty_db: str,
) -> None:
    # Attached to our logger itself: the app's logging configuration replaces root handlers.
    remembered = _Remember()
    logger = logging.getLogger("subgraph.messaging")
    logger.addHandler(remembered)
    try:
        async with _app(fast_settings(None)) as client:
            await _place(client, "u1")
            ready = (await client.get("/health/ready")).json()
    finally:
        logger.removeHandler(remembered)

    assert ready["broker"] == "disabled"
    assert ready["outbox"]["unpublished"] == 1
    assert any("RABBITMQ_URL is not set" in line for line in remembered.lines)


async def test_the_app_publishes_its_events_in_the_background(
    empty_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    async with _app(fast_settings(rabbit_vhost)) as client:
        order_id = await _place(client, "u1")
        received = await tap.wait_for(1)

        async def drained() -> bool:
            ready = (await client.get("/health/ready")).json()
            return bool(ready["outbox"]["unpublished"] == 0 and ready["broker"] == "connected")

        await eventually(drained)
    assert received[0].correlation_id == order_id
    assert received[0].routing_key == "order.placed"

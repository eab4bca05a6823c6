"""Fast checks of the publishers with FastStream's in-memory TestRabbitBroker (no RabbitMQ).

They complement, never replace, the real-broker tests: the in-memory broker has no confirms,
returns or persistence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from faststream.rabbit import RabbitMessage, RabbitQueue, TestRabbitBroker

from subgraph.messaging.broker import ORDERS_EXCHANGE, make_broker
from subgraph.messaging.publisher.events import EventPublisher
from subgraph.persistence.outbox import OutboxMessage
from subgraph.settings import get_settings

EVENT_ID = "00000000-0000-4000-8000-00000000000a"


async def test_a_stored_event_is_published_with_its_id_order_and_json_content_type() -> None:
    broker = make_broker(get_settings())
    publisher = EventPublisher(broker, timeout_seconds=1)
    seen: list[RabbitMessage] = []

    @broker.subscriber(RabbitQueue("test-tap", routing_key="order.#"), ORDERS_EXCHANGE)
    async def tap(body: dict[str, object], message: RabbitMessage) -> None:
        seen.append(message)

    stored = OutboxMessage(
        id=1,
        event_id=EVENT_ID,
        event_type="order.placed",
        order_id=42,
        payload=json.dumps({"event_id": EVENT_ID, "event_type": "order.placed"}),
        attempts=0,
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    async with TestRabbitBroker(broker):
        await publisher.publish(stored)

    assert len(seen) == 1
    assert seen[0].message_id == EVENT_ID
    assert seen[0].correlation_id == "42"
    assert seen[0].content_type == "application/json"
    assert json.loads(seen[0].body)["event_type"] == "order.placed"

"""`relay_publish`: an event published straight through aiormq arrives as the one FastStream's
publisher sends (every property, the body), fails the same ways, and with tracing on still
carries `traceparent` (FastStream's middleware publishes it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from subgraph.messaging.broker import declare_topology, make_broker
from subgraph.messaging.publisher.events import EventPublisher, Unroutable
from subgraph.overrides.relay_publish import DirectPublish
from subgraph.persistence.outbox import OutboxMessage
from subgraph.telemetry import tracing
from tests.messaging.conftest import fast_settings

pytestmark = [pytest.mark.rabbitmq]

PROPERTIES = (
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "type",
    "timestamp",
    "user_id",
    "app_id",
)


def event(event_id: str, event_type: str = "order.placed") -> OutboxMessage:
    payload = {"event_id": event_id, "event_type": event_type, "order": {"id": "7"}}
    return OutboxMessage(
        id=1,
        event_id=event_id,
        event_type=event_type,
        order_id=7,
        payload=json.dumps(payload),
        attempts=0,
        created_at=datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC),
    )


@pytest.fixture
async def broker(rabbit_vhost: str) -> AsyncIterator[RabbitBroker]:
    broker = make_broker(fast_settings(rabbit_vhost))
    await broker.connect()
    await declare_topology(broker, consume=False)
    try:
        yield broker
    finally:
        await broker.stop()


async def _get(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    message = await queue.get(timeout=10, fail=True)
    assert message is not None
    await message.ack()
    return message


def _seen(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, Any]:
    return {name: getattr(message, name) for name in PROPERTIES}


@pytest.fixture
def no_tracing() -> Iterator[None]:
    assert not tracing.ACTIVE
    yield


async def test_the_same_event_arrives_as_faststream_sends_it(
    broker: RabbitBroker, queue: aio_pika.abc.AbstractQueue, no_tracing: None
) -> None:
    faststream = EventPublisher(broker, timeout_seconds=3.0)
    direct = EventPublisher(broker, timeout_seconds=3.0, direct=True)
    assert faststream.direct is None and isinstance(direct.direct, DirectPublish)
    await faststream.publish(event("e-faststream"))
    theirs = await _get(queue)
    await direct.publish(event("e-direct"))
    ours = await _get(queue)
    assert (ours.message_id, theirs.message_id) == ("e-direct", "e-faststream")
    assert _seen(ours) == _seen(theirs)
    assert ours.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (ours.type, ours.correlation_id, ours.app_id) == ("order.placed", "7", "orders-subgraph")
    assert json.loads(ours.body) == json.loads(event("e-direct").payload)
    assert ours.body == event("e-direct").payload.encode()


async def test_an_unroutable_event_fails_as_returned_both_ways(
    broker: RabbitBroker, queue: aio_pika.abc.AbstractQueue, no_tracing: None
) -> None:
    for direct in (False, True):
        publisher = EventPublisher(broker, timeout_seconds=3.0, direct=direct)
        with pytest.raises(Unroutable, match="no queue is bound"):
            await publisher.publish(event(f"e-{direct}", "order.deleted"))  # nothing bound
    # The channel is still usable after the returns: the next routable event arrives.
    await EventPublisher(broker, timeout_seconds=3.0, direct=True).publish(event("after"))
    assert (await _get(queue)).message_id == "after"


async def test_with_tracing_on_the_event_carries_its_trace_through_faststream(
    rabbit_vhost: str, queue: aio_pika.abc.AbstractQueue
) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    provider = tracing.new_provider(light=True)
    tracing.activate(provider)
    try:
        broker = make_broker(fast_settings(rabbit_vhost))  # with the telemetry middleware
        await broker.connect()
        await declare_topology(broker, consume=False)
        try:
            stored = replace(
                event("e-traced"),
                trace_context=json.dumps({"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}),
            )
            await EventPublisher(broker, timeout_seconds=3.0, direct=True).publish(stored)
        finally:
            await broker.stop()
    finally:
        tracing.deactivate()
    message = await _get(queue)
    assert message.message_id == "e-traced"
    assert trace_id in str((message.headers or {}).get("traceparent"))

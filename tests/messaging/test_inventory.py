"""The inventory saga against the real RabbitMQ: results confirm or reject orders, exactly once."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from subgraph.messaging.runtime import Messaging
from tests.messaging import support
from tests.messaging.conftest import WAIT, EventTap, eventually, fast_settings

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


class Inventory:
    """The products service's side: publishes results to the `inventory` exchange."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Inventory:
        self.connection = await aio_pika.connect(self.url, timeout=10)
        self.channel = await self.connection.channel()
        self.exchange = await self.channel.declare_exchange(
            "inventory", aio_pika.ExchangeType.TOPIC, durable=True
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def send(self, routing_key: str, body: bytes | dict[str, Any]) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.exchange.publish(
            aio_pika.Message(raw, content_type="application/json"),
            routing_key=routing_key,
            mandatory=True,
        )

    async def reserved(self, order_id: int | None, event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        await self.send(
            "inventory.reserved",
            {"event_id": event_id, "order_id": str(order_id), "occurred_at": _now()},
        )
        return event_id

    async def rejected(self, order_id: int | None, reason: str, event_id: str | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        body = {"event_id": event_id, "order_id": order_id, "reason": reason, "occurred_at": _now()}
        await self.send("inventory.rejected", body)
        return event_id

    async def dead_letters(self, count: int) -> list[bytes]:
        """Take `count` messages from the dead-letter queue, waiting for each."""
        queue = await self.channel.get_queue("orders.inventory-results.dlq", ensure=True)
        taken: list[bytes] = []

        async def one_more() -> bool:
            message = await queue.get(fail=False, timeout=5)
            if message is not None:
                await message.ack()
                taken.append(message.body)
            return len(taken) >= count

        await eventually(one_more)
        return taken


def _now() -> str:
    return "2026-11-25T10:00:00Z"


async def _status(order_id: int | None) -> str | None:
    rows = await support.query("SELECT status FROM orders WHERE id = $1", order_id)
    return rows[0]["status"] if rows else None


async def _history(order_id: int | None) -> list[tuple[str, str | None]]:
    rows = await support.query(
        "SELECT status, reason FROM order_status_changes WHERE order_id = $1 ORDER BY id", order_id
    )
    return [(r["status"], r["reason"]) for r in rows]


async def _becomes(order_id: int | None, status: str) -> None:
    async def check() -> bool:
        return await _status(order_id) == status

    await eventually(check, seconds=WAIT)


@pytest.fixture
async def consumer(outbox_db: str, rabbit_vhost: str) -> AsyncIterator[Messaging]:
    """The inventory consumer (and the relay) of one process, with an empty inventory queue."""
    async with support.running(fast_settings(rabbit_vhost), consume=True) as messaging:
        await eventually(lambda: _connected(messaging))
        connection = await aio_pika.connect(rabbit_vhost, timeout=10)
        async with connection:
            channel = await connection.channel()
            for name in ("orders.inventory-results", "orders.inventory-results.dlq"):
                await (await channel.get_queue(name, ensure=True)).purge()
        yield messaging


async def _connected(messaging: Messaging) -> bool:
    return await messaging.state() == "connected"


async def test_reserved_stock_confirms_a_pending_order_and_emits_order_updated(
    consumer: Messaging, rabbit_vhost: str, tap: EventTap
) -> None:
    order = await support.place("u1", "p1", 2)
    async with Inventory(rabbit_vhost) as inventory:
        await inventory.reserved(order.id)
        await _becomes(order.id, "CONFIRMED")

    events = await tap.wait_for(2)
    assert [e.routing_key for e in events] == ["order.placed", "order.updated"]
    update = events[1].body
    assert (update["previous_status"], update["order"]["status"]) == ("PENDING", "CONFIRMED")
    assert (await _history(order.id))[-1] == ("CONFIRMED", "inventory reserved")


async def test_rejected_stock_rejects_a_pending_order_with_the_reason_in_its_history(
    consumer: Messaging, rabbit_vhost: str, tap: EventTap
) -> None:
    order = await support.place("u1", "p1", 2)
    async with Inventory(rabbit_vhost) as inventory:
        await inventory.rejected(order.id, "out of stock")
        await _becomes(order.id, "REJECTED")

    assert (await _history(order.id))[-1] == ("REJECTED", "inventory rejected: out of stock")
    events = await tap.wait_for(2)
    assert events[1].body["order"]["status"] == "REJECTED"


async def test_a_redelivered_event_id_and_a_result_for_a_non_pending_order_change_nothing(
    consumer: Messaging, rabbit_vhost: str
) -> None:
    first, second, cancelled, marker = [await support.place(f"u{i}", "p1", 1) for i in range(4)]
    await support.set_status(cancelled, "CANCELLED")
    async with Inventory(rabbit_vhost) as inventory:
        event_id = await inventory.rejected(first.id, "out of stock")
        await _becomes(first.id, "REJECTED")
        # The same event id again (for this or another order), then a late result.
        await inventory.rejected(first.id, "out of stock", event_id=event_id)
        await inventory.reserved(second.id, event_id=event_id)
        await inventory.reserved(cancelled.id)
        # Results are handled in queue order: once the marker applied, the others were seen.
        await inventory.reserved(marker.id)
        await _becomes(marker.id, "CONFIRMED")

    assert await _status(first.id) == "REJECTED"
    assert await _status(second.id) == "PENDING"
    assert await _status(cancelled.id) == "CANCELLED"
    assert [s for s, _ in await _history(first.id)] == ["PENDING", "REJECTED"]
    updates = await support.query(
        "SELECT order_id FROM order_outbox WHERE event_type = 'order.updated' ORDER BY id"
    )
    assert [r["order_id"] for r in updates] == [cancelled.id, first.id, marker.id]


async def test_a_poison_message_goes_to_the_dead_letter_queue_and_the_consumer_carries_on(
    consumer: Messaging, rabbit_vhost: str
) -> None:
    order = await support.place("u1", "p1", 1)
    async with Inventory(rabbit_vhost) as inventory:
        await inventory.send("inventory.reserved", b"{not json")
        await inventory.send("inventory.rejected", {"event_id": "x", "order_id": order.id})
        await inventory.reserved(order.id)
        await _becomes(order.id, "CONFIRMED")
        dead = await inventory.dead_letters(2)

    assert dead[0] == b"{not json"
    assert json.loads(dead[1]) == {"event_id": "x", "order_id": order.id}
    assert await support.query("SELECT event_id FROM processed_messages WHERE event_id = 'x'") == []

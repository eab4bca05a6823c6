"""The outbox relay against the real RabbitMQ and PostgreSQL: what arrives, in which order, once."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from subgraph.messaging.runtime import Messaging
from subgraph.messaging.schemas import EVENT_MODELS
from subgraph.persistence.outbox import OutboxStore, RetryPolicy
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.sql import fetch
from tests.messaging import support
from tests.messaging.conftest import CLOSED_PORT_URL, EventTap, eventually, fast_settings

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

ENVELOPE = {"event_id", "event_type", "occurred_at", "version", "order"}
ORDER_FIELDS = {"id", "user_id", "product_id", "quantity", "status", "created_at", "updated_at"}


async def test_each_event_type_arrives_once_with_every_contract_field_and_header(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    order = await support.place("u1", "p9", 2)
    await support.change_quantity(order, 5)
    await support.delete(order)
    written = await support.query("SELECT event_id, event_type FROM order_outbox ORDER BY id")

    async with support.running(fast_settings(rabbit_vhost)):
        received = await tap.wait_for(3)
        await eventually(lambda: _none_unpublished())
    await tap.drain()  # anything published twice has arrived by now

    assert [m.routing_key for m in tap.received] == [
        "order.placed",
        "order.updated",
        "order.deleted",
    ]
    for message, row in zip(received, written, strict=True):
        body = message.body
        assert message.message_id == row["event_id"] == body["event_id"]
        assert message.correlation_id == str(order.id)
        assert message.content_type == "application/json"
        assert message.delivery_mode == 2  # persistent
        assert body["event_type"] == message.routing_key
        assert body["version"] == 1
        assert body.keys() >= ENVELOPE
        assert set(body["order"]) == ORDER_FIELDS
        assert body["order"]["id"] == str(order.id)
        assert body["occurred_at"].endswith("Z")
        EVENT_MODELS[message.routing_key].model_validate(body)
    updated = received[1].body
    assert (updated["previous_status"], updated["previous_quantity"]) == ("PENDING", 2)
    assert updated["order"]["quantity"] == 5
    assert received[2].body["order"]["quantity"] == 5


async def _none_unpublished() -> bool:
    return await support.unpublished() == 0


async def test_events_of_one_order_arrive_in_the_order_they_happened_with_two_relays(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    orders = [await support.place(f"u{i}", "p1", 1) for i in range(4)]
    for quantity in range(2, 7):
        for order in orders:
            await support.change_quantity(order, quantity)
    expected = await support.outbox_event_ids_by_order()
    total = sum(len(ids) for ids in expected.values())

    settings = fast_settings(rabbit_vhost, outbox_batch_size=3)
    async with support.running(settings), support.running(settings):
        await tap.wait_for(total)

    arrived: dict[str, list[str]] = defaultdict(list)
    for message in tap.received:
        arrived[message.correlation_id or ""].append(message.message_id or "")
    assert arrived == expected
    first = str(orders[0].id)
    quantities = [m.body["order"]["quantity"] for m in tap.received if m.correlation_id == first]
    assert quantities == [1, 2, 3, 4, 5, 6]


async def test_two_relays_on_one_database_publish_every_row_exactly_once(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    for i in range(60):
        await support.place(f"u{i % 7}", f"p{i % 3}", 1 + i % 5)
    settings = fast_settings(rabbit_vhost, outbox_batch_size=7)

    async with support.running(settings), support.running(settings):
        await tap.wait_for(60)
        await eventually(_none_unpublished)
    await tap.drain()  # a duplicate publish has arrived by now

    ids = [m.message_id for m in tap.received]
    assert len(ids) == 60
    assert len(set(ids)) == 60
    rows = await support.query("SELECT event_id FROM order_outbox WHERE published_at IS NOT NULL")
    assert {r["event_id"] for r in rows} == set(ids)


async def test_a_broker_outage_loses_nothing_and_the_backlog_drains_when_it_returns(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    async with support.running(fast_settings(CLOSED_PORT_URL)) as down:
        for i in range(5):
            await support.place(f"u{i}", "p1", 1)
        await asyncio.sleep(1.0)  # several connection attempts fail meanwhile
        assert await down.state() == "connecting"
        assert await support.unpublished() == 5
    assert tap.received == []

    async with support.running(fast_settings(rabbit_vhost)) as up:
        await tap.wait_for(5)
        await eventually(_none_unpublished)
        assert await up.state() == "connected"
    assert sorted(m.body["order"]["user_id"] for m in tap.received) == [f"u{i}" for i in range(5)]


async def test_an_unroutable_event_counts_as_failed_and_is_retried_until_a_queue_is_bound(
    outbox_db: str, rabbit_vhost: str
) -> None:
    # No queue is bound to `orders` in this vhost yet: the broker returns the mandatory message.
    order = await support.place("u1", "p1", 1)
    async with support.running(fast_settings(rabbit_vhost)):
        failed = await eventually(
            lambda: support.query(
                "SELECT attempts, last_error FROM order_outbox WHERE attempts >= 2"
            )
        )
        assert await support.unpublished() == 1
        assert failed[0]["last_error"]
        async with EventTap(rabbit_vhost) as tap:
            received = await tap.wait_for(1)
            await eventually(_none_unpublished)
    assert received[0].correlation_id == str(order.id)
    rows = await support.query("SELECT last_error FROM order_outbox")
    assert rows[0]["last_error"] is None


async def test_events_nobody_can_receive_wait_without_being_retried_one_by_one(
    outbox_db: str, rabbit_vhost: str
) -> None:
    # No queue is bound to `orders` yet: every event placed here is returned by the broker.
    orders = [await support.place(f"u{i}", "p1", 1) for i in range(20)]
    async with support.running(fast_settings(rabbit_vhost)):
        # The first round tries every event; after that only single probes go to the broker.
        await eventually(lambda: _attempts_at_least(23))
        before = await _attempts()
        await asyncio.sleep(1.0)  # two holds at the 0.5 s cap; one by one it was 40 retries
        assert await _attempts() - before <= 4
        assert await support.unpublished() == 20

        async with EventTap(rabbit_vhost) as tap:  # a consumer binds its queue
            received = await tap.wait_until(lambda got: len(got) >= 20)
            await eventually(_none_unpublished)
    assert sorted(m.correlation_id or "" for m in received) == sorted(str(o.id) for o in orders)
    assert await support.query("SELECT id FROM order_outbox WHERE last_error IS NOT NULL") == []


async def _attempts() -> int:
    rows = await support.query("SELECT COALESCE(SUM(attempts), 0) AS n FROM order_outbox")
    return int(rows[0]["n"])


async def _attempts_at_least(count: int) -> bool:
    return await _attempts() >= count


async def test_an_idle_relay_wakes_on_the_outbox_notification_before_its_next_poll(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    # Polling every minute: an event arriving within the wait bound came through LISTEN/NOTIFY.
    settings = fast_settings(rabbit_vhost, outbox_poll_seconds=60.0)
    async with support.running(settings) as relay:
        await eventually(lambda: _connected(relay))
        await asyncio.sleep(0.5)  # the first (empty) round is over; the relay waits
        order = await support.place("u1", "p1", 1)
        received = await tap.wait_for(1)
    assert received[0].correlation_id == str(order.id)


async def _connected(relay: Messaging) -> bool:
    return await relay.state() == "connected"


async def test_published_rows_and_consumed_ids_are_pruned_after_the_retention(
    outbox_db: str,
) -> None:
    from subgraph.persistence.inbox import ProcessedMessages
    from subgraph.persistence.outbox import OutboxStore, RetryPolicy
    from subgraph.persistence.piccolo_conf import DB

    old, recent, waiting = [await support.place(f"u{i}", "p1", 1) for i in range(3)]
    await support.query(
        "UPDATE order_outbox SET published_at = now() - interval '10 days' WHERE order_id = $1",
        old.id,
    )
    await support.query(
        "UPDATE order_outbox SET published_at = now() - interval '1 hour' WHERE order_id = $1",
        recent.id,
    )
    await support.query(
        "INSERT INTO processed_messages (event_id, processed_at) VALUES "
        "('old', now() - interval '10 days'), ('new', now())"
    )
    cutoff = datetime.now(UTC) - timedelta(days=7)

    store = OutboxStore(DB, RetryPolicy(base_seconds=1, max_seconds=1))
    assert await store.prune(published_before=cutoff) == 1
    assert await ProcessedMessages(DB).prune(processed_before=cutoff) == 1

    left = await support.query("SELECT order_id FROM order_outbox ORDER BY order_id")
    assert [r["order_id"] for r in left] == [recent.id, waiting.id]
    ids = await support.query("SELECT event_id FROM processed_messages")
    assert [r["event_id"] for r in ids] == ["new"]


async def test_idempotency_keys_are_forgotten_after_their_retention(outbox_db: str) -> None:
    from subgraph.persistence.piccolo_conf import DB
    from subgraph.persistence.writes import forget_idempotency_keys

    await support.query(
        "INSERT INTO orders (user_id, product_id, quantity, status, created_at, updated_at, "
        "version, placed_by, idempotency_key, idempotency_request) VALUES "
        "('u1', 'p1', 1, 'PENDING', now() - interval '25 hours', now(), 1, 'u1', 'old', 'x'), "
        "('u1', 'p1', 1, 'PENDING', now() - interval '23 hours', now(), 1, 'u1', 'new', 'y')"
    )
    cutoff = datetime.now(UTC) - timedelta(hours=24)
    assert await forget_idempotency_keys(DB, placed_before=cutoff) == 1
    rows = await support.query(
        "SELECT idempotency_key, idempotency_request FROM orders ORDER BY id"
    )
    assert [(r["idempotency_key"], r["idempotency_request"]) for r in rows] == [
        (None, None),
        ("new", "y"),
    ]


async def test_a_claim_reads_a_few_rows_per_event_whatever_the_statistics_say(
    outbox_db: str,
) -> None:
    """PostgreSQL gives a prepared statement a generic plan after five runs, from the statistics
    of that moment. Planned on an outbox analyzed while empty, the claim scanned the whole table
    for each candidate; as published rows piled up, claims slowed until the relay fell behind.
    """
    await support.query("ANALYZE order_outbox")  # statistics of an empty table
    store = OutboxStore(DB, RetryPolicy(base_seconds=1, max_seconds=1))
    for _ in range(60):  # enough for every pooled connection to pass five runs
        async with store.claim(limit=100) as claim:
            assert claim.messages == []
    await support.query(
        "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, attempts, "
        "published_at) SELECT gen_random_uuid()::text, 'order.placed', g, '{}', now(), 1, "
        "CASE WHEN g <= 3000 THEN now() END FROM generate_series(1, 3100) AS g"
    )
    async with store.claim(limit=100) as claim:
        named = await fetch(
            DB, "SELECT name FROM pg_prepared_statements WHERE statement LIKE {}", "%head.order_id%"
        )
        name = str(named[0]["name"])
        assert re.fullmatch(r"__asyncpg_stmt_\w+__", name)
        plan = await fetch(DB, f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}(now(), 100)")
    assert [m.order_id for m in claim.messages] == list(range(3001, 3101))
    # A few rows per claimed event; the generic plan read the whole table per candidate.
    assert _rows_read(json.loads(plan[0]["QUERY PLAN"])[0]["Plan"]) < 1000


async def test_a_claim_over_a_large_outbox_is_not_jit_compiled(outbox_db: str) -> None:
    """The claim's cost estimate grows with the unpublished rows (a broker outage leaves many);
    past jit_above_cost PostgreSQL spent ~9 ms compiling each claim that then ran in 1 ms."""
    await support.query(
        "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, attempts) "
        "SELECT gen_random_uuid()::text, 'order.placed', g, '{}', now(), 0 "
        "FROM generate_series(1, 15000) AS g"
    )
    await support.query("ANALYZE order_outbox")
    store = OutboxStore(DB, RetryPolicy(base_seconds=1, max_seconds=1))
    async with store.claim(limit=100) as claim:
        named = await fetch(
            DB, "SELECT name FROM pg_prepared_statements WHERE statement LIKE {}", "%head.order_id%"
        )
        name = str(named[0]["name"])
        plan = await fetch(DB, f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}(now(), 100)")
    assert [m.order_id for m in claim.messages] == list(range(1, 101))
    assert "JIT" not in json.loads(plan[0]["QUERY PLAN"])[0]


def _rows_read(node: dict[str, Any]) -> int:
    """Rows every node produced or discarded, over all its loops."""
    per_loop = (
        int(node.get("Actual Rows", 0))
        + int(node.get("Rows Removed by Filter", 0))
        + int(node.get("Rows Removed by Join Filter", 0))
    )
    own = per_loop * int(node.get("Actual Loops", 1))
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


async def test_a_claim_whose_connection_dies_mid_round_leaves_the_next_claim_working(
    outbox_db: str,
) -> None:
    """The database restarting under a relay's round: COMMIT and ROLLBACK fail on the dead
    connection. Piccolo then kept that transaction as the task's current one, so every later
    claim in the relay's long-lived task nested into it and failed with InterfaceError until
    the process restarted (the soak left 642 events unpublished)."""
    order = await support.place("u1", "p1", 1)
    store = OutboxStore(DB, RetryPolicy(base_seconds=1, max_seconds=1))
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        async with store.claim(limit=10) as claim:
            [message] = claim.messages
            backend = (await fetch(DB, "SELECT pg_backend_pid() AS pid"))[0]["pid"]
            await support.query("SELECT pg_terminate_backend($1, 5000)", backend)
            claim.mark_published(message)  # recorded on the dead connection: it fails

    assert not DB.transaction_exists()
    async with store.claim(limit=10) as again:
        assert [m.order_id for m in again.messages] == [order.id]
        again.mark_published(again.messages[0])
    assert await support.unpublished() == 0

"""The relay's share of PostgreSQL: a fixed number of statements per published batch, whatever
its size or how many of its events failed, and one claim for a burst of commits.

Statements are counted with asyncpg's query logger on every connection of a pool opened for
the test (as in tests/integration/test_place_order_round_trips.py), BEGIN and COMMIT included.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from subgraph.domain.events import OrderPlaced, OrderSnapshot
from subgraph.messaging.publisher.wakeups import PostgresNotifications, Wakeups
from subgraph.messaging.runtime import Messaging
from subgraph.persistence.engine import keep_session
from subgraph.persistence.outbox import CLAIM_PLANNER_SETTINGS, OutboxStore, RetryPolicy
from tests.messaging import support
from tests.messaging.conftest import EventTap, eventually, fast_settings

pytestmark = pytest.mark.postgres

CLAIM = "SKIP LOCKED"  # in the claim's SELECT only


class Counted:
    """An engine whose pool logs every statement it sends."""

    def __init__(self, dsn: str, server_settings: dict[str, str] | None) -> None:
        config: dict[str, Any] = {"dsn": dsn}
        if server_settings:
            config["server_settings"] = server_settings
        self.engine = PostgresEngine(config=config, log_queries=False)
        self.statements: list[str] = []

    async def log_statements_of(self, connection: Any) -> None:
        connection.add_query_logger(lambda logged: self.statements.append(logged.query))

    async def open(self) -> None:
        # As the app's pool (engine.open_pool): no reset query on release; the connections
        # start with the engine's server_settings, as Piccolo's own pool would.
        self.engine.pool = await asyncpg.create_pool(
            **self.engine.config,
            min_size=1,
            max_size=4,
            init=self.log_statements_of,
            reset=keep_session,
        )

    def claims(self) -> int:
        return sum(CLAIM in s for s in self.statements)


@pytest.fixture(params=["relay-process", "shared-pool"])
async def counted(db: str, request: pytest.FixtureRequest) -> AsyncIterator[Counted]:
    """The relay's own pool (`orders-subgraph relay`: connections start with the planner
    settings) or a pool it shares with the app (each claim sets them itself)."""
    settings = CLAIM_PLANNER_SETTINGS if request.param == "relay-process" else None
    counting = Counted(db, settings)
    await counting.open()
    try:
        yield counting
    finally:
        assert counting.engine.pool is not None
        await counting.engine.pool.close()


def payload(order_id: int, event_id: str) -> str:
    now = datetime.now(UTC)
    snapshot = OrderSnapshot(order_id, "u1", "p1", 1, "PENDING", now, now)
    event = OrderPlaced(event_id=event_id, occurred_at=now, order=snapshot)
    return json.dumps(event.as_payload())


ADD_EVENT = (
    "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, attempts) "
    "VALUES ($1, 'order.placed', $2, $3, now(), 0)"
)


async def add_events(db: str, count: int, first_order: int = 1) -> None:
    """`count` events of as many orders, so one claim can take them all."""
    connection = await asyncpg.connect(db)
    try:
        for order_id in range(first_order, first_order + count):
            event_id = str(uuid.uuid4())
            await connection.execute(ADD_EVENT, event_id, order_id, payload(order_id, event_id))
    finally:
        await connection.close()


async def one_round(counted: Counted, *, failing_every: int = 0) -> tuple[int, list[str]]:
    """Claim every waiting event, mark them published (every `failing_every`th failed); the
    number of events claimed and the statements it took."""
    store = OutboxStore(counted.engine, RetryPolicy(1.0, 60.0))
    counted.statements.clear()
    async with store.claim(limit=100) as claim:
        for n, message in enumerate(claim.messages, start=1):
            if failing_every and n % failing_every == 0:
                claim.mark_failed(message, "nacked by the broker")
            else:
                claim.mark_published(message)
    return len(claim.messages), list(counted.statements)


async def test_a_batch_of_50_costs_the_statements_of_a_batch_of_1(
    counted: Counted, db: str
) -> None:
    await add_events(db, 1)
    await one_round(counted)  # asyncpg prepares the statements once
    await add_events(db, 1, first_order=2)
    single, of_one = await one_round(counted)
    await add_events(db, 50, first_order=3)
    batch, of_fifty = await one_round(counted, failing_every=5)  # 10 of them fail

    assert (single, batch) == (1, 50)
    assert len(of_fifty) == len(of_one), (of_one, of_fifty)
    # BEGIN, the claim, the one mark, COMMIT; the shared pool sets the planner first.
    expected = 4 if counted.engine.config.get("server_settings") else 5
    assert len(of_one) == expected, of_one


async def test_one_statement_marks_the_published_and_the_failed_apart(
    counted: Counted, db: str
) -> None:
    await add_events(db, 6)
    before = datetime.now(UTC)
    await one_round(counted, failing_every=3)

    rows = await support.query(
        "SELECT order_id, published_at, attempts, next_attempt_at, last_error "
        "FROM order_outbox ORDER BY order_id"
    )
    failed = [r for r in rows if r["order_id"] % 3 == 0]
    published = [r for r in rows if r["order_id"] % 3 != 0]
    assert [r["order_id"] for r in failed] == [3, 6]
    for row in published:
        assert row["published_at"] >= before and row["attempts"] == 1
        assert row["last_error"] is None and row["next_attempt_at"] is None
    for row in failed:
        assert row["published_at"] is None and row["attempts"] == 1
        assert row["last_error"] == "nacked by the broker"
        # RetryPolicy(1, 60): the first retry one second after the round.
        assert before + timedelta(seconds=1) <= row["next_attempt_at"]
        assert row["next_attempt_at"] <= datetime.now(UTC) + timedelta(seconds=1)


async def burst(db: str, count: int, first_order: int) -> None:
    """`count` transactions, one event each, committed together: a burst of NOTIFYs."""
    connections = [await asyncpg.connect(db) for _ in range(count)]
    try:
        transactions = [c.transaction() for c in connections]
        for n, (connection, transaction) in enumerate(zip(connections, transactions, strict=True)):
            await transaction.start()
            event_id = str(uuid.uuid4())
            order_id = first_order + n
            await connection.execute(ADD_EVENT, event_id, order_id, payload(order_id, event_id))
        await asyncio.gather(*(t.commit() for t in transactions))
    finally:
        await asyncio.gather(*(c.close() for c in connections))


class WatchedNotifications(PostgresNotifications):
    """The relay's real LISTEN wake-ups, telling when the relay waits on them."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.waiting = False

    async def wait(self, seconds: float) -> None:
        self.waiting = True
        try:
            await super().wait(seconds)
        finally:
            self.waiting = False

    def idle(self) -> bool:
        """Blocked in `wait`: listening, and nothing announced since the last claim."""
        return self.waiting and not self.pending()


class WatchedMessaging(Messaging):
    def _make_wakeups(self) -> Wakeups:
        assert self.settings.postgres_dsn is not None
        self.watched = WatchedNotifications(self.settings.postgres_dsn)
        return self.watched


@pytest.mark.rabbitmq
@pytest.mark.parametrize("counted", ["relay-process"], indirect=True)
async def test_a_burst_of_commits_is_one_claim(
    counted: Counted, db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    # A long poll, so every claim below answers a NOTIFY; a gather pause longer than the
    # burst takes to commit on a loaded machine.
    settings = fast_settings(rabbit_vhost, outbox_poll_seconds=60, outbox_gather_seconds=0.3)
    messaging = WatchedMessaging(settings, counted.engine, relay=True, consume=False)
    messaging.start()
    try:
        await eventually(lambda: _idle(messaging))
        claims_before = counted.claims()

        await burst(db, 50, first_order=100)
        await tap.wait_for(50)
        await eventually(_none_unpublished)
        await eventually(lambda: _idle(messaging))
        claims = counted.claims() - claims_before
    finally:
        await messaging.stop()

    # The burst's one claim, and at most one empty claim for a NOTIFY that arrived after the
    # claim had begun (the commits are not all at one instant); never one per commit. (Before
    # the relay cleared its notices at each claim, a burst cost this claim and two empty ones.)
    assert 1 <= claims <= 2, claims


async def _idle(messaging: WatchedMessaging) -> bool:
    watched = getattr(messaging, "watched", None)
    return watched is not None and watched.idle()


async def _none_unpublished() -> bool:
    return await support.unpublished() == 0

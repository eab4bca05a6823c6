"""The outbox's NOTIFY on PostgreSQL: one per burst of a worker's commits, and the trigger's own
NOTIFY, per statement, for every connection that does not ask for silence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.persistence.outbox_notices import CHANNEL, SILENT_OUTBOX_TRIGGER, OutboxNotices
from subgraph.persistence.unit_of_work import UnitOfWork
from tests.support import rows

ALICE = Principal(user_id="alice")
INTERVAL = 0.05


class Listener:
    """A LISTEN connection recording when each notice arrived."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.arrivals: list[float] = []  # the outbox's notices (empty payload)
        self.fences = 0

    def heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == "fence":
            self.fences += 1
        else:
            self.arrivals.append(time.monotonic())

    async def until(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert time.monotonic() < deadline, f"not met; notices at {self.arrivals}"
            await asyncio.sleep(0.01)

    async def fence(self) -> None:
        """Return once every notice of a transaction committed before this call has arrived
        (PostgreSQL delivers notices in commit order)."""
        expected = self.fences + 1
        connection = await asyncpg.connect(self.db)
        try:
            await connection.execute(f"NOTIFY {CHANNEL}, 'fence'")
        finally:
            await connection.close()
        await self.until(lambda: self.fences >= expected)


@pytest.fixture
async def listener(db: str) -> AsyncIterator[Listener]:
    heard = Listener(db)
    connection = await asyncpg.connect(db)
    await connection.add_listener(CHANNEL, heard.heard)
    try:
        yield heard
    finally:
        await connection.close()


async def _engine(db: str, silent: bool) -> PostgresEngine:
    config: dict[str, Any] = {"dsn": db}
    if silent:
        config["server_settings"] = dict(SILENT_OUTBOX_TRIGGER)
    engine = PostgresEngine(config=config, log_queries=False)
    await engine.start_connection_pool(min_size=1, max_size=8)
    return engine


def _placer(engine: PostgresEngine) -> Callable[[int], Awaitable[Any]]:
    async def place(quantity: int) -> Any:
        return await service.place_order(
            uow=UnitOfWork(engine),
            principal=ALICE,
            user_id="alice",
            product_id="p1",
            quantity=quantity,
        )

    return place


async def test_a_burst_of_commits_is_announced_by_a_few_notices_the_last_after_the_last_commit(
    db: str, listener: Listener
) -> None:
    engine = await _engine(db, silent=True)
    notices = OutboxNotices(engine, INTERVAL)
    notices.start()
    place = _placer(engine)
    try:
        started = time.monotonic()
        for _ in range(4):  # four waves of 25 concurrent placements
            await asyncio.gather(*(place(q) for q in range(1, 26)))
        last_commit = time.monotonic()
        await listener.until(
            lambda: bool(listener.arrivals) and listener.arrivals[-1] > last_commit
        )
    finally:
        await notices.stop()
        await engine.close_connection_pool()

    assert len(await rows(db, "SELECT id FROM order_outbox")) == 100
    # One at the first commit, then at most one per interval: far fewer than 100.
    allowed = 2 + (last_commit - started) / INTERVAL
    assert 1 <= len(listener.arrivals) <= allowed, (len(listener.arrivals), allowed)
    # Each notice counted arrived; one more may have: a notice cancelled by `stop` while in
    # flight may have reached PostgreSQL uncounted, and `stop` then sends the one it owes.
    assert notices.sent <= len(listener.arrivals) <= notices.sent + 1
    # Every row was announced within the interval (plus a round trip) of its commit.
    assert listener.arrivals[-1] - last_commit < INTERVAL + 1.0


async def test_a_quiet_commit_is_announced_at_once(db: str, listener: Listener) -> None:
    engine = await _engine(db, silent=True)
    notices = OutboxNotices(engine, interval=10.0)  # a long interval: only "at once" passes
    notices.start()
    try:
        committed = time.monotonic()
        await _placer(engine)(1)
        await listener.until(lambda: len(listener.arrivals) == 1, within=2.0)
    finally:
        await notices.stop()
        await engine.close_connection_pool()
    assert listener.arrivals[0] - committed < 2.0


async def test_a_silent_connection_without_notices_announces_nothing(
    db: str, listener: Listener
) -> None:
    engine = await _engine(db, silent=True)
    try:
        await _placer(engine)(1)
        await listener.fence()
    finally:
        await engine.close_connection_pool()
    assert len(await rows(db, "SELECT id FROM order_outbox")) == 1
    assert listener.arrivals == []


async def test_any_other_writer_still_notifies_per_statement(db: str, listener: Listener) -> None:
    engine = await _engine(db, silent=False)  # an older build, a manual insert, the consumer
    try:
        place = _placer(engine)
        for quantity in (1, 2, 3):
            await place(quantity)
        await listener.fence()
    finally:
        await engine.close_connection_pool()
    assert len(listener.arrivals) == 3


async def test_stopping_sends_the_notice_still_owed(db: str, listener: Listener) -> None:
    engine = await _engine(db, silent=True)
    notices = OutboxNotices(engine, interval=10.0)
    notices.start()
    place = _placer(engine)
    try:
        await place(1)  # announced at once; the next waits out the 10 s interval...
        await listener.until(lambda: len(listener.arrivals) == 1)
        await place(2)
        await listener.fence()
        assert len(listener.arrivals) == 1
        await notices.stop()  # ...unless the process stops first
        await listener.until(lambda: len(listener.arrivals) == 2, within=2.0)
    finally:
        await engine.close_connection_pool()

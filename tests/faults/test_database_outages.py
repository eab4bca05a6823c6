"""The served app against a PostgreSQL of the test's own that restarts, dies and goes silent.

Each test measures with a real load against the served process and asserts on counts: failed
reads, failed writes and their codes, orders in the database against orders acknowledged,
events in the outbox against orders. Their numbers go to $FAULT_RESULTS (scenarios.record).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.cluster import OwnedPostgres
from tests.faults.conftest import ServeApp, database_name
from tests.faults.load import LoadGenerator, run_load
from tests.faults.proxy import TcpProxy
from tests.faults.scenarios import (
    LAST_POLLS,
    ORDERS,
    WriterLoad,
    health_url,
    numbers,
    order_ids_by_key,
    place,
    record,
    table_counts,
    wait_for_status,
)
from tests.support import ADMIN

READERS = 8
# Short bounds, so a silent database shows within the test's time.
FAST_FAILING = {
    "DB_CONNECT_TIMEOUT_SECONDS": "1",
    "DB_ACQUIRE_TIMEOUT_SECONDS": "1",
    "DB_STATEMENT_TIMEOUT_SECONDS": "1",
    "DB_READ_RETRY_BUDGET_SECONDS": "2",
}


async def _seed(url: str, orders: int = 20) -> None:
    async with httpx.AsyncClient(headers=ADMIN, timeout=10) as client:
        for n in range(orders):
            placed = await place(client, url, f"seed-{n}", 10)
            assert placed.order_id is not None, placed.result.detail


async def test_reads_ride_over_a_postgresql_restart_and_a_postmaster_kill(
    serve_app: ServeApp, owned_postgres: OwnedPostgres
) -> None:
    app = serve_app()
    await _seed(app.url)
    for scenario, outage in (
        ("restart", lambda: owned_postgres.arestart("fast")),
        ("kill", lambda: _kill_and_start(owned_postgres)),
    ):
        async with LoadGenerator(
            app.url, ORDERS, headers=ADMIN, concurrency=READERS, request_timeout=15
        ) as load:
            await load.wait_until(lambda so_far: so_far.ok >= 200, within=20)
            down = time.monotonic()
            await outage()
            up = time.monotonic()
            await load.wait_until(
                lambda so_far, up=up: so_far.between(up, time.monotonic()).ok >= 200, within=20
            )
        report = await load.stop()
        during = report.between(down, up)
        record(f"reads across a {scenario}", **numbers(report), during_outage=during.total)
        assert report.failed == 0, report.summary()
        assert during.total > 0, f"no read was sent during the {scenario}: {report.summary()}"


async def _kill_and_start(cluster: OwnedPostgres) -> None:
    await cluster.akill()
    await cluster.astart()


async def test_writes_during_a_restart_fail_retryable_and_a_retry_with_the_key_places_one_order(
    serve_app: ServeApp, owned_postgres: OwnedPostgres, owned_database: str
) -> None:
    app = serve_app()
    for scenario, outage in (
        ("restart", lambda: owned_postgres.arestart("fast")),
        ("kill", lambda: _kill_and_start(owned_postgres)),
    ):
        writers = await WriterLoad(app.url, dict(ADMIN)).start()
        await writers.wait_for(50)
        await outage()
        await writers.wait_for(writers.acknowledged() + 50)
        placements = await writers.stop()
        report = writers.report()
        failed = [p for p in placements if p.order_id is None]
        record(f"writes across a {scenario}", **numbers(report))
        assert report.count("transport:") == 0, report.summary()
        assert set(report.error_codes) <= {"SERVICE_UNAVAILABLE"}, report.summary()
        assert all(p.retryable for p in failed), report.summary()

        # Every acknowledged order is there; none is half-there (no history or no event).
        stored = await order_ids_by_key(owned_database)
        for p in placements:
            if p.order_id is not None:
                assert stored.get(p.key) == [p.order_id]
        counts = await table_counts(owned_database)
        assert counts["orders"] == counts["history"] == counts["events"], counts

        # The client retries each failure with its key: one order per key, whatever happened.
        async with httpx.AsyncClient(headers=ADMIN, timeout=15) as client:
            for p in failed:
                again = await place(client, app.url, p.key, 15)
                assert again.order_id is not None, again.result.detail
                if p.key in stored:  # the first attempt had committed: the same order
                    assert stored[p.key] == [again.order_id]
        stored = await order_ids_by_key(owned_database)
        assert all(len(ids) == 1 for ids in stored.values())
        assert {p.key for p in placements} <= set(stored)
        counts = await table_counts(owned_database)
        assert counts["orders"] == counts["history"] == counts["events"] == counts["keys"]


async def _commit_stalled(
    serve_app: ServeApp, pg_proxy: TcpProxy, owned_database: str, side: str
) -> None:
    app = serve_app(**FAST_FAILING)
    async with httpx.AsyncClient(headers=ADMIN, timeout=15) as client:
        warm = await place(client, app.url, "warm-up", 15)
        assert warm.order_id is not None, warm.result.detail
        # placeOrder is one statement in an implicit transaction (its own commit), prepared
        # by the warm-up: what goes out now is its Bind/Execute, which carries the key.
        pg_proxy.stall_on(b"the-key", side)  # type: ignore[arg-type]
        first = await place(client, app.url, "the-key", 15)
        pg_proxy.unstall()
        assert pg_proxy.stalled >= 1
        record(
            f"placeOrder whose write {'answer' if side == 'reply' else 'request'} was lost",
            codes=list(first.result.codes),
            retryable=first.retryable,
        )
        assert first.order_id is None
        assert first.result.codes == ("SERVICE_UNAVAILABLE",), first.result.detail
        assert first.retryable
        retry = await place(client, app.url, "the-key", 15)
    assert retry.order_id is not None, retry.result.detail
    stored = await order_ids_by_key(owned_database)
    assert stored["the-key"] == [retry.order_id]
    counts = await table_counts(owned_database)
    assert counts["orders"] == counts["events"] == counts["history"] == 2, counts


async def test_a_write_whose_answer_was_lost_fails_retryable_and_the_retry_returns_that_order(
    serve_app: ServeApp, pg_proxy: TcpProxy, owned_database: str
) -> None:
    await _commit_stalled(serve_app, pg_proxy, owned_database, "reply")


async def test_a_write_that_never_arrived_fails_retryable_and_the_retry_places_the_order(
    serve_app: ServeApp, pg_proxy: TcpProxy, owned_database: str
) -> None:
    await _commit_stalled(serve_app, pg_proxy, owned_database, "request")


async def test_a_partition_fails_requests_within_their_bounds_and_leaks_no_connection(
    serve_app: ServeApp,
    owned_postgres: OwnedPostgres,
    owned_database: str,
    pg_proxy: TcpProxy,
) -> None:
    app = serve_app(**FAST_FAILING, DB_POOL_MAX_SIZE="4")
    await _seed(app.url, 5)
    async with LoadGenerator(
        app.url, ORDERS, headers=ADMIN, concurrency=READERS, request_timeout=20
    ) as load:
        await load.wait_until(lambda so_far: so_far.ok >= 100, within=20)
        pg_proxy.silence()
        silent = time.monotonic()
        writes = await WriterLoad(app.url, dict(ADMIN), concurrency=2).start()
        await load.wait_until(
            lambda so_far: so_far.between(silent + 0.5, time.monotonic()).failed >= 20,
            within=20,
        )
        placements = await writes.stop()
        pg_proxy.forward()
        healed = time.monotonic()
        await load.wait_until(
            lambda so_far: so_far.between(healed + 3, time.monotonic()).ok >= 200, within=30
        )
    report = await load.stop()
    during = report.between(silent, healed)
    record("reads across a partition", **numbers(report), during_partition=numbers(during))
    record("writes during a partition", **numbers(writes.report()))
    # Nothing hangs: a request during the partition fails, retryable, within its bounds
    # (attempt 1 + 1 s, the read's 2 s budget, the driver's cancellation 1 s, and slack).
    assert report.count("transport:") == 0, report.summary()
    assert set(report.error_codes) <= {"SERVICE_UNAVAILABLE"}, report.summary()
    assert max(r.elapsed for r in during.results) < 8, during.summary()
    assert all(p.order_id is None and p.retryable for p in placements), writes.report()
    assert max(p.result.elapsed for p in placements) < 8, writes.report().summary()
    assert report.between(healed + 3, time.monotonic() + 1).failed == 0, report.summary()
    # ...and no connection leaked: the pool (4) still serves 8 readers, within its size.
    after = await run_load(app.url, ORDERS, headers=ADMIN, concurrency=READERS, requests=400)
    assert after.ok == 400, after.summary()
    admin = await _connect_admin(owned_postgres)
    try:
        # The pool's connections; the live-updates feed's one LISTEN connection is not the
        # pool's (docs/subscriptions.md).
        held = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
            " AND query NOT ILIKE 'LISTEN%'",
            database_name(owned_database),
        )
    finally:
        await admin.close()
    assert held <= 4, f"{held} connections to the database, pool max 4"


async def _connect_admin(cluster: OwnedPostgres) -> object:
    import asyncpg

    return await asyncpg.connect(cluster.dsn(), timeout=10)


async def test_readiness_follows_the_database_within_two_seconds_and_liveness_stays_up(
    served_app: object, owned_postgres: OwnedPostgres, pg_proxy: TcpProxy
) -> None:
    url = served_app.url  # type: ignore[attr-defined]
    ready, live = health_url(url, "ready"), health_url(url, "live")
    timings: dict[str, float] = {}
    async with httpx.AsyncClient() as client:
        assert (await client.get(ready)).status_code == 200
        liveness = asyncio.create_task(_always_live(client, live))
        try:
            await owned_postgres.akill()
            timings["503 after a kill"] = await wait_for_status(client, ready, 503, within=5)
            await owned_postgres.astart()
            timings["200 after the start"] = await wait_for_status(client, ready, 200, within=5)
            pg_proxy.silence()
            timings["503 after a partition"] = await wait_for_status(client, ready, 503, 5)
            polls = list(LAST_POLLS)
            pg_proxy.forward()
            timings["200 after it healed"] = await wait_for_status(client, ready, 200, 5)
        finally:
            liveness.cancel()
        live_failures = await asyncio.gather(liveness, return_exceptions=True)
    record("readiness", **timings)
    assert all(seconds <= 2.0 for seconds in timings.values()), (timings, polls)
    assert not isinstance(live_failures[0], AssertionError), live_failures


async def _always_live(client: httpx.AsyncClient, url: str) -> None:
    while True:
        response = await client.get(url, timeout=2)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.05)

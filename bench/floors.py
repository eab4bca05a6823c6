"""Floors (b), (c), (d): what the database and the broker can do with no service in between.

Each floor runs in client processes of its own (as many as the service has workers, with the
same pool size and the same total concurrency), so the floor is the raw driver's ceiling on
this machine rather than one Python process's.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import report

ORDER_COLUMNS = (
    '"id", "user_id", "product_id", "quantity", "status", "created_at", "updated_at", '
    '"version", "placed_by", "idempotency_key"'
)
# The statements placeOrder issues (subgraph/persistence/writes.py and outbox.py), with the
# same placeholders, RETURNING clauses and ON CONFLICT target, in one transaction.
INSERT_ORDER = (
    'INSERT INTO "orders" ("id","user_id","product_id","quantity","status","created_at",'
    '"updated_at","version","placed_by","idempotency_key") VALUES '
    "(DEFAULT,$1,$2,$3,$4,$5,$6,$7,$8,$9) "
    'ON CONFLICT ("placed_by", "idempotency_key") DO NOTHING RETURNING "id"'
)
INSERT_HISTORY = (
    'INSERT INTO "order_status_changes" ("id","order_id","status","at","reason") '
    'VALUES (DEFAULT,$1,$2,$3,$4) RETURNING "id"'
)
INSERT_OUTBOX = (
    'INSERT INTO "order_outbox" ("id","event_id","event_type","order_id","payload",'
    '"created_at","published_at","attempts","next_attempt_at","last_error") '
    'VALUES (DEFAULT,$1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING "id"'
)
GET_BY_ID = f'SELECT {ORDER_COLUMNS} FROM "orders" WHERE "orders"."id" IN ($1)'
PAGE = (
    f'SELECT {ORDER_COLUMNS} FROM "orders" WHERE "orders"."user_id" = $1 '
    'ORDER BY "orders"."id" DESC LIMIT 20 OFFSET 0'
)
PUBLISH_BATCH = 100
# The statements `_entities` issues for one batch (subgraph/persistence/reads.py):
# `User.orders(limit: 5)` for every user of the batch in one LATERAL read, and the orders of
# an `Order` batch by id in one read.
ORDERS_OF_USERS = (
    "SELECT page.* FROM unnest($1::text[]) AS parent(id) CROSS JOIN LATERAL "
    "(SELECT * FROM orders WHERE orders.user_id = parent.id "
    "ORDER BY orders.id DESC LIMIT $2 OFFSET $3) AS page ORDER BY page.id DESC"
)
ORDERS_BY_ID = "SELECT * FROM orders WHERE id = ANY($1::bigint[])"
ENTITY_PAGE = 5
ENTITY_RUNS = 40


@dataclass
class Rep:
    """One measured repetition from one client process."""

    ops: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0


Op = Callable[[random.Random], Awaitable[int]]  # returns how many operations it did


async def _keep(connection: object) -> None:
    return None


async def _db_op(kind: str, params: dict[str, Any]) -> tuple[Op, Callable[[], Awaitable[None]]]:
    # The service's pool (subgraph/persistence/engine.py): same size, no reset query on release.
    pool = await asyncpg.create_pool(
        params["dsn"], min_size=params["pool_size"], max_size=params["pool_size"], reset=_keep
    )
    users, orders = params["users"], params["orders"]

    async def place(rng: random.Random) -> int:
        user = str(rng.randint(1, users))
        now = datetime.now(UTC)
        async with pool.acquire() as connection, connection.transaction():
            order_id = await connection.fetchval(
                INSERT_ORDER,
                user,
                str(rng.randint(1, 500)),
                rng.randint(1, 9),
                "PENDING",
                now,
                now,
                1,
                user,
                None,
            )
            await connection.fetchval(INSERT_HISTORY, order_id, "PENDING", now, "placed")
            event_id = str(uuid.uuid4())
            payload = json.dumps({"event_id": event_id, "order": {"id": str(order_id)}})
            await connection.fetchval(
                INSERT_OUTBOX, event_id, "order.placed", order_id, payload, now, None, 0, None, None
            )
        return 1

    async def get(rng: random.Random) -> int:
        rows = await pool.fetch(GET_BY_ID, rng.randint(1, orders))
        return len(rows)  # 1: every seeded id exists

    async def page(rng: random.Random) -> int:
        await pool.fetch(PAGE, str(rng.randint(1, users)))
        return 1

    ops: dict[str, Op] = {"place": place, "get": get, "page": page}
    return ops[kind], pool.close


async def _publish_op(params: dict[str, Any]) -> tuple[Op, Callable[[], Awaitable[None]]]:
    import aio_pika

    connection = await aio_pika.connect(params["amqp_url"], timeout=10)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        "bench.floor", aio_pika.ExchangeType.TOPIC, durable=True
    )
    # Bounded, so the floor's messages are routed and stored but never pile up.
    queue = await channel.declare_queue(
        "bench.floor", durable=True, arguments={"x-max-length": 10_000}
    )
    await queue.bind(exchange, routing_key="order.#")
    body = json.dumps({"event_type": "order.placed", "order": {"id": "1"}, "pad": "x" * 300})

    async def publish(rng: random.Random) -> int:
        # One batch: publish persistent, mandatory messages and wait for every confirm.
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body.encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(uuid.uuid4()),
                        content_type="application/json",
                    ),
                    routing_key="order.placed",
                    mandatory=True,
                    timeout=10,
                )
                for _ in range(PUBLISH_BATCH)
            )
        )
        return PUBLISH_BATCH

    return publish, connection.close


async def _client(kind: str, params: dict[str, Any], barrier: Any, results: Any) -> None:
    op, close = await (_publish_op(params) if kind == "publish" else _db_op(kind, params))
    rng = random.Random()
    reps: list[Rep] = []

    async def loop(until: float, rep: Rep | None) -> None:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                done = await op(rng)
            except Exception:  # noqa: BLE001 - counted, the floor goes on
                if rep:
                    rep.errors += 1
                continue
            if rep:
                rep.ops += done
                rep.latencies_ms.append((time.perf_counter() - started) * 1000)

    async def run(seconds: float, rep: Rep | None) -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(loop(until, rep) for _ in range(params["concurrency"])))

    await run(params["warmup"], None)
    for _ in range(params["repeats"]):
        await asyncio.to_thread(barrier.wait)
        rep = Rep()
        cpu = time.process_time()
        await run(params["seconds"], rep)
        rep.cpu_seconds = time.process_time() - cpu
        reps.append(rep)
        await asyncio.to_thread(barrier.wait)
    # Stay connected until the parent has taken its closing CPU snapshot: a backend that
    # exits before it would drop out of the PostgreSQL share.
    await asyncio.to_thread(barrier.wait)
    await close()
    results.put(reps)


def _client_main(kind: str, params: dict[str, Any], barrier: Any, results: Any) -> None:
    import uvloop

    uvloop.run(_client(kind, params, barrier, results))


def run_floor(
    kind: str,
    params: dict[str, Any],
    *,
    processes: int,
    on_rep: Callable[[int, str], None],
) -> list[Rep]:
    """Run `kind` (place, get, page, publish) in `processes` clients; merge each repetition.

    `on_rep(i, "start"|"end")` is called in this process at each repetition's boundaries
    (for CPU snapshots).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    clients = [
        context.Process(target=_client_main, args=(kind, params, barrier, results))
        for _ in range(processes)
    ]
    for client in clients:
        client.start()
    for i in range(params["repeats"]):
        barrier.wait(timeout=params["warmup"] + 120)
        on_rep(i, "start")
        barrier.wait(timeout=params["seconds"] + 120)
        on_rep(i, "end")
    barrier.wait(timeout=120)
    per_client = [results.get(timeout=120) for _ in clients]
    for client in clients:
        client.join(timeout=30)
    merged = []
    for i in range(params["repeats"]):
        rep = Rep()
        for reps in per_client:
            rep.ops += reps[i].ops
            rep.errors += reps[i].errors
            rep.latencies_ms += reps[i].latencies_ms
            rep.cpu_seconds += reps[i].cpu_seconds
        merged.append(rep)
    return merged


async def entity_statements(
    dsn: str, *, users: int, orders: int, sizes: tuple[int, ...]
) -> dict[str, dict[str, Any]]:
    """Floor (e): the SQL of each `_entities` batch alone, on one connection, by latency.

    Keyed like the cells (`user_1000`, `order_1`, ...): what the database and the driver take
    for that batch before any of the service's own work.
    """
    connection = await asyncpg.connect(dsn)
    rng = random.Random(5)
    out: dict[str, dict[str, Any]] = {}
    try:
        for size in sizes:
            for kind in ("user", "order"):
                latencies = []
                for run in range(ENTITY_RUNS + 5):
                    if kind == "user":
                        ids = [str(i) for i in rng.sample(range(1, users + 1), size)]
                        args: tuple[Any, ...] = (ORDERS_OF_USERS, ids, ENTITY_PAGE, 0)
                    else:
                        args = (ORDERS_BY_ID, rng.sample(range(1, orders + 1), size))
                    started = time.perf_counter()
                    await connection.fetch(*args)
                    if run >= 5:  # the first runs prepare the statement and warm the cache
                        latencies.append((time.perf_counter() - started) * 1000)
                out[f"{kind}_{size}"] = {
                    "p50_ms": report.percentile(latencies, 50),
                    "p99_ms": report.percentile(latencies, 99),
                    "runs": len(latencies),
                }
    finally:
        await connection.close()
    return out

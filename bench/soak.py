"""`python -m bench --soak`: a mixed load on `orders-subgraph serve` while its database restarts.

The service runs as production runs it (`serve --workers 2`, with RabbitMQ, so its messaging
process relays the outbox) against a PostgreSQL cluster of the soak's own (bench/cluster.py),
which is stopped and started again (a clean "fast" shutdown) every `--restart-every` seconds.
Meanwhile readers send getOrder, getOrders and `_entities` (Order and User), and writers place
orders with idempotency keys, retrying a write that failed retryably (SERVICE_UNAVAILABLE, or
no answer at all) with the same key, as a real client does.

At the end the load stops, the relay is given time to drain, and the run checks what a user
cares about: every acknowledged order is in the database (no order lost, none twice per key),
every order has its `order.placed` event, every event is published and was seen on the broker,
no read failed, no write was given up on. Any miss makes the exit status 1.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import infra, report, server, workloads
from bench.cluster import OwnedPostgres
from bench.conditions import conditions

PLACE = (
    "mutation Place($u: ID!, $p: ID!, $k: String!) { placeOrder(userId: $u, productId: $p, "
    "quantity: 1, idempotencyKey: $k) { success message order { id } } }"
)
DATABASE = "orders_soak"
USERS = 50
READ_TIMEOUT = 20.0  # seconds; a read may wait DB_READ_RETRY_BUDGET_SECONDS (10) for the database
WRITE_TIMEOUT = 20.0
WRITE_GIVE_UP = 120.0  # a client gives up on a write it could not place in this long
RETRY_PAUSES = (0.1, 0.2, 0.5, 1.0)  # a writer's pause before each retry of the same key
DRAIN_TIMEOUT = 120.0  # after the load: until every event is published and seen
SHUTDOWN_TIMEOUT = 30
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class SoakConfig:
    minutes: float = 10.0
    restart_every: float = 120.0
    workers: int = 2
    readers: int = 6
    writers: int = 3
    pause: float = 0.01  # seconds a client waits between two requests: load, not saturation
    output: Path | None = None


@dataclass
class Tally:
    """Requests of one kind: how many were sent and what came back."""

    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.outcomes.items()) if k != "ok"}


@dataclass
class Soak:
    """The state of one run: what the clients sent, what they were told."""

    url: str
    reads: Tally = field(default_factory=Tally)
    writes: Tally = field(default_factory=Tally)
    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    given_up: list[str] = field(default_factory=list)  # keys a writer stopped retrying
    refused: Counter[str] = field(default_factory=Counter)  # writes failed, not retryably
    retried_writes: int = 0  # writes that needed more than one request
    restarts: list[dict[str, float]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(15))

    def order_ids(self) -> list[str]:
        return list(self.acknowledged.values())


def outcome(response: httpx.Response | None, error: Exception | None) -> tuple[str, Any]:
    """`ok`, `graphql:<CODE>`, `http:<status>`, `transport:<Kind>` or `invalid_body`; and the
    body's data when there is one."""
    if error is not None:
        return f"transport:{type(error).__name__}", None
    assert response is not None
    if response.status_code != 200:
        return f"http:{response.status_code}", None
    try:
        body = response.json()
    except ValueError:
        return "invalid_body", None
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        first = errors[0].get("extensions", {}).get("code", "NO_CODE")
        retryable = all((e.get("extensions") or {}).get("retryable") for e in errors)
        return f"graphql:{first}{':retryable' if retryable else ''}", body.get("data")
    if not isinstance(body, dict) or "data" not in body:
        return "invalid_body", None
    return "ok", body["data"]


async def post(
    client: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], within: float
) -> tuple[str, Any]:
    try:
        async with asyncio.timeout(within):  # in total, not per phase as httpx counts
            response = await client.post(url, json={"query": query, "variables": variables})
    except Exception as error:  # noqa: BLE001 - every failure is an outcome to count
        return outcome(None, error)
    return outcome(response, None)


def read_request(soak: Soak) -> tuple[str, dict[str, Any], str]:
    """A read the way a router or a client sends one; the last item names what is expected."""
    ids = soak.order_ids()
    choice = soak.rng.random()
    if ids and choice < 0.4:
        return workloads.GET_ORDER, {"id": soak.rng.choice(ids)}, "order"
    if ids and choice < 0.6:
        picked = soak.rng.sample(ids, min(3, len(ids)))
        representations = [{"__typename": "Order", "id": i} for i in picked]
        return workloads.ORDER_ENTITIES, {"r": representations}, "entities"
    if choice < 0.8:
        users = [{"__typename": "User", "id": str(soak.rng.randint(1, USERS))} for _ in range(3)]
        return workloads.USER_ENTITIES, {"r": users}, "list"
    return workloads.GET_ORDERS, {}, "list"


async def reader(soak: Soak, client: httpx.AsyncClient, until: float, pause: float) -> None:
    while time.monotonic() < until:
        query, variables, expected = read_request(soak)
        result, data = await post(client, soak.url, query, variables, READ_TIMEOUT)
        if result == "ok" and not _complete(data, expected):
            result = "missing_acknowledged_order"  # an acknowledged order read as absent
        soak.reads.outcomes[result] += 1
        await asyncio.sleep(pause)


def _complete(data: Any, expected: str) -> bool:
    if expected == "order":
        return bool(data and data.get("getOrder"))
    if expected == "entities":
        return bool(data) and all(entity and entity.get("id") for entity in data["_entities"])
    return bool(data)


async def writer(soak: Soak, client: httpx.AsyncClient, until: float, pause: float) -> None:
    """Place orders until `until`; each with a fresh key, retried with it until placed."""
    while time.monotonic() < until:
        key = uuid.uuid4().hex
        variables = {"u": str(soak.rng.randint(1, USERS)), "p": "soak", "k": key}
        began, attempt = time.monotonic(), 0
        while True:
            result, data = await post(client, soak.url, PLACE, variables, WRITE_TIMEOUT)
            soak.writes.outcomes[result] += 1
            attempt += 1
            placed = (data or {}).get("placeOrder") or {} if result == "ok" else {}
            if result == "ok" and placed.get("success") and placed.get("order"):
                soak.acknowledged[key] = str(placed["order"]["id"])
                soak.retried_writes += attempt > 1
                break
            # Retryable: the service says so, or no answer came (it may have committed: the
            # same key finds out). Anything else is a refusal a client would not retry.
            if not (result.endswith(":retryable") or result.startswith("transport:")):
                soak.refused[result if result != "ok" else "success:false"] += 1
                break
            if time.monotonic() - began > WRITE_GIVE_UP:
                soak.given_up.append(key)
                break
            await asyncio.sleep(RETRY_PAUSES[min(attempt - 1, len(RETRY_PAUSES) - 1)])
        await asyncio.sleep(pause)


async def restarter(soak: Soak, cluster: OwnedPostgres, every: float, until: float) -> None:
    """Stop the database cleanly and start it again every `every` seconds until `until`."""
    while time.monotonic() + every < until:
        await asyncio.sleep(every)
        began = time.monotonic()
        await cluster.arestart("fast")
        soak.restarts.append({"at": round(began, 1), "down_s": round(time.monotonic() - began, 2)})
        log(f"database restarted ({len(soak.restarts)}), down {soak.restarts[-1]['down_s']} s")


class EventTap:
    """Every message on the `orders` exchange, bound before the first order is placed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: Counter[str] = Counter()  # message id (the event id) -> deliveries
        self._connection: Any = None

    async def __aenter__(self) -> EventTap:
        import aio_pika

        self._connection = await aio_pika.connect(self.url, timeout=10)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            "orders", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="order.#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self.seen[message.message_id or ""] += 1

        await queue.consume(on_message, no_ack=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._connection.close()


@dataclass
class Verdict:
    numbers: dict[str, Any]
    misses: list[str]


async def verify(soak: Soak, dsn: str, tap: EventTap) -> Verdict:
    """Wait (bounded) for the relay to drain, then compare clients, database and broker."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        orders, events = await _database(dsn)
        placed = {e["event_id"] for e in events if e["event_type"] == "order.placed"}
        unpublished = sum(e["published_at"] is None for e in events)
        unseen = placed - set(tap.seen)
        if (not unpublished and not unseen) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    by_key: dict[str, list[str]] = {}
    for row in orders:
        by_key.setdefault(row["idempotency_key"], []).append(str(row["id"]))
    lost = [k for k, i in soak.acknowledged.items() if by_key.get(k) != [i]]
    twice = [k for k, ids in by_key.items() if len(ids) > 1]
    unacknowledged = [k for k in by_key if k not in soak.acknowledged]
    with_event = {e["order_id"] for e in events if e["event_type"] == "order.placed"}
    without_event = [r["id"] for r in orders if r["id"] not in with_event]
    repeats = sum(n - 1 for n in tap.seen.values() if n > 1)
    numbers = {
        "reads": {"sent": soak.reads.sent, "failed": soak.reads.failed},
        "writes": {
            "requests_sent": soak.writes.sent,
            "requests_failed": soak.writes.failed,
            "orders_acknowledged": len(soak.acknowledged),
            "acknowledged_after_retries": soak.retried_writes,
            "given_up": len(soak.given_up),
            "refused": dict(soak.refused),
        },
        "database": {
            "orders": len(orders),
            "acknowledged_orders_missing": len(lost),
            "keys_with_two_orders": len(twice),
            "orders_never_acknowledged": len(unacknowledged),
        },
        "events": {
            "outbox_rows": len(events),
            "orders_without_order_placed": len(without_event),
            "unpublished_after_drain": unpublished,
            "order_placed_not_seen_on_broker": len(unseen),
            "seen_on_broker": sum(tap.seen.values()),
            "seen_twice": repeats,
        },
        "restarts": len(soak.restarts),
        "restart_downtime_s": [r["down_s"] for r in soak.restarts],
    }
    misses = [
        what
        for what, failed in (
            ("reads failed", sum(soak.reads.failed.values())),
            ("acknowledged orders missing from the database", len(lost)),
            ("idempotency keys with two orders", len(twice)),
            ("writes given up on", len(soak.given_up)),
            ("writes refused", sum(soak.refused.values())),
            ("orders without their order.placed event", len(without_event)),
            ("events unpublished after the drain", unpublished),
            ("order.placed events not seen on the broker", len(unseen)),
            ("orders never acknowledged (their writer gave up)", len(unacknowledged)),
        )
        if failed
    ]
    return Verdict(numbers, misses)


async def _database(dsn: str) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        orders = await connection.fetch("SELECT id, idempotency_key FROM orders")
        events = await connection.fetch(
            "SELECT order_id, event_id, event_type, published_at FROM order_outbox"
        )
    finally:
        await connection.close(timeout=5)
    return orders, events


async def drive(
    config: SoakConfig, url: str, token: str, cluster: OwnedPostgres, amqp: str
) -> Verdict:
    """Run the load and the restarts for `config.minutes`, then verify."""
    soak = Soak(url=url)
    dsn = cluster.dsn(DATABASE)
    headers = {"authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(headers=headers, limits=limits, timeout=WRITE_TIMEOUT)
        for _ in range(config.readers + config.writers)
    ]
    async with EventTap(amqp) as tap:
        began = time.monotonic()
        until = began + config.minutes * 60
        tasks = [
            *(reader(soak, c, until, config.pause) for c in clients[: config.readers]),
            *(writer(soak, c, until, config.pause) for c in clients[config.readers :]),
            restarter(soak, cluster, config.restart_every, until),
            progress(soak, began, until),
        ]
        await asyncio.gather(*tasks)
        for client in clients:
            await client.aclose()
        log("load over; waiting for the relay to drain")
        verdict = await verify(soak, dsn, tap)
    for restart in soak.restarts:
        restart["at"] = round(restart["at"] - began, 1)
    verdict.numbers["restart_at_s"] = [r["at"] for r in soak.restarts]
    return verdict


async def progress(soak: Soak, began: float, until: float) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(min(30.0, max(0.1, until - time.monotonic())))
        log(
            f"+{time.monotonic() - began:.0f} s: reads {soak.reads.sent} "
            f"(failed {sum(soak.reads.failed.values())}), writes {soak.writes.sent} "
            f"({len(soak.acknowledged)} orders acknowledged)"
        )


@contextmanager
def owned_cluster() -> Iterator[OwnedPostgres]:
    with OwnedPostgres() as cluster:
        asyncio.run(_create_database(cluster))
        yield cluster


async def _create_database(cluster: OwnedPostgres) -> None:
    connection = await asyncpg.connect(cluster.dsn(), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close(timeout=5)


def run(config: SoakConfig) -> int:
    """The whole soak; prints the numbers, writes them as JSON, returns the exit status."""
    started = datetime.now(UTC)
    record: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "config": {k: str(v) for k, v in config.__dict__.items()},
        "conditions": conditions(),
    }
    secret = secrets.token_urlsafe(48)
    run_id = secrets.token_hex(4)
    with owned_cluster() as cluster, infra.vhost(f"orders_soak_{run_id}") as vhost:
        if vhost is None:
            print("soak: RabbitMQ is needed (a vhost of its own)", file=sys.stderr)
            return 2
        amqp = infra.amqp_url(vhost)
        env, port = server.server_env(
            {
                **infra.production_env(cluster.dsn(DATABASE), secret),
                "RABBITMQ_URL": amqp,
                "SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT),
            }
        )
        infra.migrate(env)
        token = workloads.Tokens(secret).for_user("0", admin=True)
        log_path = Path(tempfile.gettempdir()) / f"orders-soak-{run_id}.log"
        command = server.service_command(port, config.workers)
        log(f"serving on port {port} ({config.workers} workers); database on {cluster.port}")
        with server.serve(command, env, "/health/ready", log_path, config.workers) as served:
            verdict = asyncio.run(drive(config, served.url + "/graphql", token, cluster, amqp))
            exit_seconds, exit_code = _terminate(served)
        verdict.numbers["serve_exit"] = {"seconds": exit_seconds, "code": exit_code}
        if exit_code != 0 or exit_seconds > SHUTDOWN_TIMEOUT:
            verdict.misses.append(f"serve exited with {exit_code} after {exit_seconds} s")
        logged = log_path.read_text(errors="replace")
        verdict.numbers["server_log"] = {
            "tracebacks": logged.count("Traceback"),
            "errors": sum(" ERROR " in line for line in logged.splitlines()),
            "path": str(log_path),
        }
    record["result"] = verdict.numbers
    record["misses"] = verdict.misses
    output = config.output or RESULTS / f"soak-{started.strftime('%Y-%m-%dT%H%M%S')}.json"
    report.write_json(output, record)
    print(render(verdict))
    print(f"written: {output}")
    return 1 if verdict.misses else 0


def _terminate(served: server.Server) -> tuple[float, int | None]:
    """SIGTERM `serve` as an orchestrator does; how long it took to exit, and its status."""
    began = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    try:
        code: int | None = served.process.wait(timeout=SHUTDOWN_TIMEOUT + 10)
    except subprocess.TimeoutExpired:
        code = None
    return round(time.monotonic() - began, 2), code


def render(verdict: Verdict) -> str:
    n = verdict.numbers
    reads, writes, db, events = n["reads"], n["writes"], n["database"], n["events"]
    lines = [
        f"database restarts: {n['restarts']} (down {n['restart_downtime_s']} s, "
        f"at +{n['restart_at_s']} s)",
        f"reads:  sent {reads['sent']}, failed {sum(reads['failed'].values())} "
        f"{reads['failed'] or ''}".rstrip(),
        f"writes: requests sent {writes['requests_sent']}, failed "
        f"{sum(writes['requests_failed'].values())} {writes['requests_failed'] or ''}".rstrip(),
        f"        orders acknowledged {writes['orders_acknowledged']} "
        f"({writes['acknowledged_after_retries']} after retries with the same key), "
        f"given up {writes['given_up']}, refused {writes['refused'] or 0}",
        f"database: orders {db['orders']}, acknowledged but missing "
        f"{db['acknowledged_orders_missing']}, keys with two orders {db['keys_with_two_orders']}"
        f", never acknowledged {db['orders_never_acknowledged']}",
        f"events: outbox rows {events['outbox_rows']}, orders without order.placed "
        f"{events['orders_without_order_placed']}, unpublished after drain "
        f"{events['unpublished_after_drain']}, order.placed not seen on the broker "
        f"{events['order_placed_not_seen_on_broker']} (deliveries seen "
        f"{events['seen_on_broker']}, repeats {events['seen_twice']})",
        f"serve: SIGTERM to exit {n['serve_exit']['seconds']} s, status "
        f"{n['serve_exit']['code']}; server log: {n['server_log']['tracebacks']} tracebacks, "
        f"{n['server_log']['errors']} ERROR lines ({n['server_log']['path']})",
        "verdict: " + ("PASS" if not verdict.misses else "FAIL: " + "; ".join(verdict.misses)),
    ]
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

"""The bench's own PostgreSQL database and RabbitMQ vhost: created, seeded, and removed again."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg

PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("BENCH_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQ_USER = "guest"


@dataclass(frozen=True)
class Stack:
    """Where this run's service and floors point: names carry one random run id."""

    run_id: str
    database: str
    dsn: str
    vhost: str | None  # None when RabbitMQ (or rabbitmqctl) is not usable here

    @property
    def amqp_url(self) -> str | None:
        return amqp_url(self.vhost) if self.vhost else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
    return done.returncode == 0


@contextmanager
def vhost(name: str) -> Iterator[str | None]:
    """RabbitMQ vhost `name` for the guest user, deleted on the way out; None if unusable."""
    created: str | None = None
    if _rabbitmqctl("add_vhost", name) and _rabbitmqctl(
        "set_permissions", "-p", name, RABBITMQ_USER, ".*", ".*", ".*"
    ):
        created = name
    else:
        print("bench: could not create a RabbitMQ vhost (rabbitmqctl as root?)", file=sys.stderr)
    try:
        yield created
    finally:
        if created:
            _rabbitmqctl("delete_vhost", created)


def amqp_url(vhost: str) -> str:
    return f"{AMQP_BASE}/{vhost}"


@contextmanager
def stack() -> Iterator[Stack]:
    """Create `orders_bench_<id>` and vhost `orders_bench_<id>`; drop both on the way out."""
    run_id = secrets.token_hex(4)
    name = f"orders_bench_{run_id}"
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        with vhost(name) as created:
            yield Stack(run_id=run_id, database=name, dsn=dsn, vhost=created)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


SEED_SQL = """
INSERT INTO orders (user_id, product_id, quantity, status, created_at, updated_at, version)
SELECT (1 + (n - 1) % $1)::text, (1 + n % 500)::text, 1 + n % 7, 'PENDING',
       now() - make_interval(secs => $2 - n), now() - make_interval(secs => $2 - n), 1
FROM generate_series(1, $2) AS n
"""
HISTORY_SQL = """
INSERT INTO order_status_changes (order_id, status, at, reason)
SELECT id, 'PENDING', created_at, 'placed' FROM orders
"""


async def seed(dsn: str, *, users: int, orders_per_user: int) -> int:
    """Orders for users "1".."users" (with their history), as if placed earlier; no outbox
    rows, so a relay starts the run with nothing to catch up on. Returns the highest id."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SEED_SQL, users, users * orders_per_user)
        await connection.execute(HISTORY_SQL)
        await connection.execute("ANALYZE")
        return int(await connection.fetchval("SELECT max(id) FROM orders"))
    finally:
        await connection.close()


def production_env(dsn: str, secret: str) -> dict[str, str]:
    """The service's environment as production runs it, on `dsn`, tokens signed with `secret`
    (quiet logs; production refuses introspection, which is off there anyway)."""
    return {
        "APP_ENV": "production",
        "GRAPHQL_INTROSPECTION": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": dsn,
        "JWT_SECRET_KEY": secret,
    }


def migrate(env: dict[str, str]) -> None:
    """`orders-subgraph migrate` against the bench database, as an operator would run it."""
    subprocess.run([cli_path(), "migrate"], env=env, check=True, capture_output=True, timeout=120)


def cli_path() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "orders-subgraph")
    found = beside if os.path.exists(beside) else shutil.which("orders-subgraph")
    if not found:
        raise RuntimeError("orders-subgraph is not installed: pip install -e '.[bench]'")
    return found


async def forget_floor_writes(dsn: str, seeded_up_to: int) -> None:
    """Remove what floor (b) inserted: its outbox rows would otherwise be a backlog (and be
    published by a relay) during the service's cells, and its orders would change the pages."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("DELETE FROM order_outbox")
        await connection.execute(
            "DELETE FROM order_status_changes WHERE order_id > $1", seeded_up_to
        )
        await connection.execute("DELETE FROM orders WHERE id > $1", seeded_up_to)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()

"""Fixtures for the fault tests: a PostgreSQL cluster the tests own, a proxy in front of it.

- ``owned_postgres`` (session): one ``initdb`` cluster for the run, on a free port, stopped and
  removed at the end whatever happened. Tests may stop, crash or kill it; the fixtures below
  start it again before and after each test that takes them.
- ``owned_database``: a fresh, empty database in it (its DSN), dropped after the test.
- ``owned_app_database``: the same, migrated to the app's schema (``orders-subgraph migrate``
  in a child process, so this process's Piccolo engine stays on the run's own database).
- ``pg_proxy``: a ``TcpProxy`` in front of the cluster; ``owned_postgres.dsn(db, port=
  pg_proxy.port)`` is what a served process gets when the test means to partition it.

Without PostgreSQL binaries these tests skip, and fail under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import service_unavailable
from tests.faults.cluster import BinariesMissing, ClusterError, OwnedPostgres, find_bindir
from tests.faults.proxy import TcpProxy

MIGRATE_TIMEOUT = 60.0
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def owned_postgres() -> Iterator[OwnedPostgres]:
    try:
        bindir = find_bindir()
    except BinariesMissing as error:
        service_unavailable("PostgreSQL binaries (for a cluster of our own)", error)
    cluster = OwnedPostgres(bindir=bindir)
    try:
        cluster.start()
    except ClusterError as error:
        cluster.close()
        pytest.fail(f"could not start our own PostgreSQL: {error}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.close()


async def _admin(cluster: OwnedPostgres, statement: str) -> None:
    connection = await asyncpg.connect(cluster.dsn(), timeout=10)
    try:
        await connection.execute(statement, timeout=30)
    finally:
        await connection.close(timeout=5)


@pytest.fixture
async def owned_database(owned_postgres: OwnedPostgres) -> AsyncIterator[str]:
    """A new empty database in the owned cluster (started if a test left it down): its DSN."""
    if not owned_postgres.running:
        await owned_postgres.astart()
    name = f"faults_{uuid.uuid4().hex[:10]}"
    await _admin(owned_postgres, f'CREATE DATABASE "{name}"')
    try:
        yield owned_postgres.dsn(name)
    finally:
        if not owned_postgres.running:
            await owned_postgres.astart()
        await _admin(owned_postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def owned_app_database(owned_database: str) -> str:
    """``owned_database`` migrated to the app's latest schema."""
    env = {**os.environ, "DATABASE_URL": owned_database}
    env.pop("RABBITMQ_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "subgraph.cli", "migrate"],
            cwd=REPOSITORY,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"migrate did not finish within {MIGRATE_TIMEOUT:.0f} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"migrate failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return owned_database


@pytest.fixture
def pg_proxy(owned_postgres: OwnedPostgres) -> Iterator[TcpProxy]:
    """A forwarding ``TcpProxy`` in front of the owned cluster, stopped after the test."""
    with TcpProxy(owned_postgres.port) as proxy:
        yield proxy

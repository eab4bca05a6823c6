"""Fixtures for the fault tests: a PostgreSQL cluster the tests own, a proxy in front of it.

- ``owned_postgres`` (session): one ``initdb`` cluster for the run, on a free port, stopped and
  removed at the end whatever happened. Tests may stop, crash or kill it; the fixtures below
  start it again before and after each test that takes them.
- ``owned_database``: a fresh, empty database in it (its DSN), dropped after the test.
- ``pg_proxy``: a ``TcpProxy`` in front of the cluster; ``owned_postgres.dsn(db, port=
  pg_proxy.port)`` is what a served process gets when the test means to partition it.
- ``served_app``: the real app (``tests/faults/served_app.py``: migrate, then serve) in a
  child process, on ``owned_database`` through ``pg_proxy``; ``served_app.url`` is its
  /graphql, ``served_app.log`` its output.

Without PostgreSQL binaries these tests skip, and fail under CI=true.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from bench.cluster import BinariesMissing, ClusterError, OwnedPostgres, find_bindir
from tests.conftest import service_unavailable
from tests.faults.proxy import TcpProxy
from tests.federation.processes import Server, child_env, start

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
def pg_proxy(owned_postgres: OwnedPostgres) -> Iterator[TcpProxy]:
    """A forwarding ``TcpProxy`` in front of the owned cluster, stopped after the test."""
    with TcpProxy(owned_postgres.port) as proxy:
        yield proxy


def database_name(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


ServeApp = Callable[..., Server]


@pytest.fixture
def serve_app(
    owned_postgres: OwnedPostgres,
    owned_database: str,
    pg_proxy: TcpProxy,
    tmp_path: Path,
) -> Iterator[ServeApp]:
    """``serve_app(**settings)``: the app served in a child process with these settings
    (environment names, e.g. ``DB_STATEMENT_TIMEOUT_SECONDS="1"``), its database reached
    through ``pg_proxy``; every one started is stopped after the test."""
    through_proxy = owned_postgres.dsn(database_name(owned_database), port=pg_proxy.port)
    servers: list[Server] = []

    def serve(**settings: str) -> Server:
        server = start(
            f"orders{len(servers) or ''}",
            [sys.executable, "-m", "tests.faults.served_app", "--port", "0"],
            cwd=REPOSITORY,
            env=child_env(DATABASE_URL=through_proxy, **settings),
            log_dir=tmp_path,
        )
        servers.append(server)
        return server

    try:
        yield serve
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def served_app(serve_app: ServeApp) -> Server:
    """The app served in a child process, its database reached through ``pg_proxy``."""
    return serve_app()

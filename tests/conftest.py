"""Shared test setup: a fresh PostgreSQL database per run, an app client and token helpers.

The database name is fixed at import, before any `subgraph` module reads DATABASE_URL, and the
database itself is created only when a test asks for it, so the pure unit tests need no server.
Under CI=true a missing service fails the tests that need it; locally they are skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = uuid.uuid4().hex[:10]
TEST_DB = f"orders_test_{RUN_ID}"
TEST_DSN = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{TEST_DB}"

os.environ["DATABASE_URL"] = TEST_DSN
os.environ["JWT_SECRET_KEY"] = "test-secret-" + "x" * 40
os.environ.setdefault("APOLLO_TELEMETRY_DISABLED", "1")
os.environ.pop("RABBITMQ_URL", None)

IN_CI = os.environ.get("CI", "").lower() == "true"


def service_unavailable(what: str, error: BaseException) -> None:
    """Fail under CI, skip on a developer machine without the service."""
    message = f"{what} is not reachable: {type(error).__name__}: {error}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _create_database() -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{TEST_DB}"')
    finally:
        await connection.close()


async def _drop_database() -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        await connection.close()


_database_state: dict[str, Any] = {}


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create this run's database and migrate it to the latest schema; drop it at the end."""
    if "error" in _database_state:
        service_unavailable("PostgreSQL", _database_state["error"])
    try:
        asyncio.run(_create_database())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        _database_state["error"] = error
        service_unavailable("PostgreSQL", error)

    from subgraph.persistence.migrate import migrate

    asyncio.run(migrate())
    yield TEST_DSN
    asyncio.run(_drop_database())


@pytest.fixture
async def db(postgres_database: str) -> str:
    """This run's migrated database, emptied for one test."""
    connection = await asyncpg.connect(postgres_database)
    try:
        await connection.execute(
            "TRUNCATE orders, order_status_changes, order_outbox RESTART IDENTITY"
        )
    finally:
        await connection.close()
    return postgres_database


@pytest.fixture
async def pool(db: str) -> AsyncIterator[str]:
    """The empty database with the app's connection pool open, for repository-level tests."""
    from subgraph.persistence.engine import close_pool, open_pool
    from subgraph.persistence.piccolo_conf import DB
    from subgraph.settings import get_settings

    await open_pool(DB, get_settings())
    try:
        yield db
    finally:
        await close_pool(DB)


@pytest.fixture
async def client(db: str) -> AsyncIterator[Any]:
    """An HTTP client on the app (lifespan run: pool open) over the empty database."""
    from litestar.testing import AsyncTestClient

    from subgraph.app import create_app

    async with AsyncTestClient(app=create_app()) as test_client:
        yield test_client


AppFactory = Callable[..., Any]


@pytest.fixture
def app_with(db: str) -> AppFactory:
    """`async with app_with(**settings) as client`: the app under non-default settings."""
    from litestar.testing import AsyncTestClient

    from subgraph.app import create_app
    from subgraph.settings import Settings

    @asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[Any]:
        async with AsyncTestClient(app=create_app(Settings(**overrides))) as client:
            yield client

    return serve

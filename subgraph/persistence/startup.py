"""Opening the database at start-up without making it a precondition of serving.

`open_when_available` runs in the background of each worker's lifespan: it applies pending
migrations (one process at a time, under a PostgreSQL advisory lock) and opens the pool,
retrying with backoff while the database is down, one WARNING line per attempt. Until it has
succeeded the process serves liveness, and readiness answers 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from subgraph.persistence.availability import Availability
from subgraph.persistence.engine import open_pool
from subgraph.persistence.migrate import migrate
from subgraph.settings import Settings

logger = logging.getLogger("subgraph.persistence")

FIRST_RETRY_SECONDS = 0.25
# pg_advisory_lock's key for "migrating the orders schema" ('orders' in ASCII).
MIGRATION_LOCK = 0x6F7264657273


def retry_delay(attempt: int, longest: float) -> float:
    """The pause after failed attempt `attempt` (from 1): doubling from 0.25 s to `longest`."""
    return float(min(longest, FIRST_RETRY_SECONDS * 2 ** min(attempt - 1, 30)))


async def migrate_locked(settings: Settings) -> None:
    """`migrate()`, one process at a time on PostgreSQL (the others wait, then find nothing)."""
    dsn = settings.postgres_dsn
    if not dsn or not dsn.startswith(("postgresql://", "postgres://")):
        await migrate()
        return
    connection = await asyncpg.connect(
        dsn,
        timeout=settings.db_connect_timeout_seconds,
        command_timeout=settings.db_statement_timeout_seconds,
    )
    try:
        # Waits for another process's migrations: bounded by that process's own statements.
        await connection.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})", timeout=None)
        try:
            await migrate()
        finally:
            await connection.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
    finally:
        await connection.close(timeout=settings.db_connect_timeout_seconds)


async def open_when_available(
    engine: Engine[Any],
    settings: Settings,
    availability: Availability,
    *,
    then: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Migrate (unless MIGRATE_ON_START=false) and open the pool, retrying until both
    succeed; then mark `availability` started and call `then` (the messaging, say)."""
    attempt = 0
    migrated = not settings.migrate_on_start
    while True:
        attempt += 1
        try:
            if not migrated:
                await migrate_locked(settings)
                migrated = True
            if not (isinstance(engine, PostgresEngine) and engine.pool is not None):
                await open_pool(engine, settings)
        except Exception as error:  # noqa: BLE001 - retried; one line, no traceback per try
            delay = retry_delay(attempt, settings.db_startup_retry_max_seconds)
            logger.warning(
                "database not available at start-up (attempt %d, %s: %s); retrying in %.2f s",
                attempt,
                type(error).__name__,
                _short(error),
                delay,
            )
            await asyncio.sleep(delay)
            continue
        break
    availability.started = True
    logger.info("database ready (after %d attempt%s)", attempt, "" if attempt == 1 else "s")
    if then is not None:
        result = then()
        if result is not None:
            await result


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200]

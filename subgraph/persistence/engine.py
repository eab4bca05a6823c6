"""Choose and bind the database engine: PostgreSQL from a URL, else the embedded SQLite file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from subgraph.settings import Settings

SQLITE_PREFIX = "sqlite:///"
# Seconds a SQLite writer waits for the lock before failing (the default 5 s is short under load).
SQLITE_BUSY_TIMEOUT = 30


def make_engine(
    settings: Settings, *, server_settings: Mapping[str, str] | None = None
) -> Engine[Any]:
    """The engine the settings ask for; PostgreSQL gets its pool later, in the app lifespan.

    `server_settings`: PostgreSQL settings every connection of its pool starts with (sent in
    the connection's start-up message, no round trip); ignored for SQLite.
    """
    # Each app builds its own and hands it to every statement (`sql.fetch(engine, ...)`).
    # Piccolo binds a Table class to one engine (`_meta.db`, from piccolo_conf, which only the
    # migration runner still uses), and `.run(node=...)` picks among one PostgresEngine's
    # extra nodes only: neither lets two apps in one process use PostgreSQL and SQLite.
    dsn = settings.postgres_dsn
    if dsn and dsn.startswith(SQLITE_PREFIX):
        return SQLiteEngine(path=dsn.removeprefix(SQLITE_PREFIX), timeout=SQLITE_BUSY_TIMEOUT)
    if dsn:
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must start with postgresql:// or sqlite:///")
        config: dict[str, Any] = {"dsn": dsn, **bounded(settings)}
        if server_settings:
            config["server_settings"] = dict(server_settings)
        return PostgresEngine(config=config, log_queries=False)
    return SQLiteEngine(path=settings.sqlite_path, timeout=SQLITE_BUSY_TIMEOUT)


def bounded(settings: Settings) -> dict[str, float]:
    """asyncpg's connect timeout and its default for every statement (COMMIT included), so a
    database that stops answering fails a request instead of hanging it."""
    return {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds,
    }


def is_postgres(engine: Engine[Any]) -> bool:
    return engine.engine_type == "postgres"


async def open_pool(engine: Engine[Any], settings: Settings) -> None:
    """Open the PostgreSQL connection pool (without one, every query opens a new connection).

    SQLite has no pool; it is switched to write-ahead logging so readers do not wait on writers.
    """
    if isinstance(engine, SQLiteEngine):
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            reset=keep_session,
        )


async def keep_session(connection: object) -> None:
    """Return a pooled connection as it is, instead of asyncpg's default reset.

    The default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
    every release: one more round trip per query. Nothing here sets session state on a
    pooled connection (no SET, LISTEN, cursors or session advisory locks; LISTEN belongs on a
    dedicated connection). asyncpg still rolls back a transaction left open before calling this.
    """


async def close_pool(engine: Engine[Any]) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()

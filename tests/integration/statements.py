"""Statements a test's pool sends to PostgreSQL, counted.

Statements are logged with asyncpg's query logger on every connection of a pool opened for the
test (asyncpg's documented `init` hook): what is counted is what reached PostgreSQL,
transaction control (BEGIN, COMMIT) included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from subgraph.persistence.engine import keep_session


class StatementLog:
    """An engine whose pool logs every statement it sends."""

    def __init__(self, engine: PostgresEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    async def log_statements_of(self, connection: Any) -> None:
        connection.add_query_logger(lambda logged: self.statements.append(logged.query))


Log = TypeVar("Log", bound=StatementLog)


@asynccontextmanager
async def counting_engine(db: str, kind: type[Log]) -> AsyncIterator[Log]:
    """A `kind` (a StatementLog) on an engine of its own, its pool open for the block."""
    engine = PostgresEngine(config={"dsn": db}, log_queries=False)
    log = kind(engine)
    # As the app's pool (engine.open_pool): no reset query on release.
    engine.pool = await asyncpg.create_pool(
        db, min_size=1, max_size=4, init=log.log_statements_of, reset=keep_session
    )
    try:
        yield log
    finally:
        await engine.pool.close()

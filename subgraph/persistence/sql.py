"""Raw SQL for the hot paths, through Piccolo's public engine API (`run_querystring`).

Statements use Piccolo's `{}` placeholders, never formatted values, and run in the current
Piccolo transaction when there is one. (Sending them to asyncpg directly, past Piccolo's
query machinery, was measured and moved no bench cell beyond the run's spread:
docs/upgrading.md.)

The engine is an argument, not a table's `_meta.db`: each app runs on the engine its settings
chose, and two apps in one process must not share one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from subgraph.persistence.engine import is_postgres
from subgraph.telemetry import tracing


def ids_in(engine: Engine[Any], column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition "`column` is one of `ids`" with its placeholder values.

    On PostgreSQL the ids travel as one array, so the statement text is the same whatever the
    batch size and asyncpg prepares it once; SQLite gets one placeholder per id. `column` must
    be a literal from the caller, never input.
    """
    if is_postgres(engine):
        return f"{column} = ANY({{}}::bigint[])", [list(ids)]
    return f"{column} IN ({', '.join('{}' for _ in ids)})", list(ids)


async def fetch(engine: Engine[Any], sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    """Run one statement with `{}` placeholders on `engine`; its rows."""
    if tracing.ACTIVE:  # observability hook: a span per statement (telemetry/tracing.py)
        run = functools.partial(_fetch, engine)
        system = "postgresql" if isinstance(engine, PostgresEngine) else "sqlite"
        return await tracing.statement(run, system, sql, args)  # type: ignore[no-any-return]
    return await _fetch(engine, sql, *args)


async def _fetch(engine: Engine[Any], sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    response = await engine.run_querystring(QueryString(sql, *args))
    if isinstance(engine, PostgresEngine):
        return response  # type: ignore[no-any-return]  # asyncpg Records: read by column name
    rows: list[dict[str, Any]] = engine.transform_response_to_dicts(response)
    return rows

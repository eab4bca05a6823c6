"""Raw SQL for the hot paths: straight to asyncpg on PostgreSQL, through Piccolo on SQLite.

Piccolo's raw queries compile a QueryString and copy every record into a dict on each call: a
fifth of a getOrder's CPU. Statements here use Piccolo's `{}` placeholders, never formatted
values, and run in the current Piccolo transaction when there is one.

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


def on_postgres(engine: Engine[Any]) -> bool:
    return is_postgres(engine)


def ids_in(engine: Engine[Any], column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition "`column` is one of `ids`" with its placeholder values.

    On PostgreSQL the ids travel as one array, so the statement text is the same whatever the
    batch size and asyncpg prepares it once; SQLite gets one placeholder per id. `column` must
    be a literal from the caller, never input.
    """
    if on_postgres(engine):
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
    if isinstance(engine, PostgresEngine):
        transaction = engine.current_transaction.get()
        if transaction is not None:
            return await transaction.connection.fetch(_numbered(sql), *args)  # type: ignore[no-any-return]
        if engine.pool is not None:
            return await engine.pool.fetch(_numbered(sql), *args)  # type: ignore[no-any-return]
    rows: list[dict[str, Any]] = engine.transform_response_to_dicts(
        await engine.run_querystring(QueryString(sql, *args))
    )
    return rows


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """Piccolo's `{}` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("{}")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

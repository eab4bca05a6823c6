"""Raw SQL for the hot paths: straight to asyncpg on PostgreSQL, through Piccolo on SQLite.

Piccolo's raw queries compile a QueryString and copy every record into a dict on each call: a
fifth of a getOrder's CPU. Statements here use Piccolo's `{}` placeholders, never formatted
values, and run in the current Piccolo transaction when there is one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from subgraph.persistence.engine import is_postgres
from subgraph.persistence.tables import OrderRow


def on_postgres() -> bool:
    return is_postgres(OrderRow._meta.db)


def ids_in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition "`column` is one of `ids`" with its placeholder values.

    On PostgreSQL the ids travel as one array, so the statement text is the same whatever the
    batch size and asyncpg prepares it once; SQLite gets one placeholder per id. `column` must
    be a literal from the caller, never input.
    """
    if on_postgres():
        return f"{column} = ANY({{}}::bigint[])", [list(ids)]
    return f"{column} IN ({', '.join('{}' for _ in ids)})", list(ids)


async def fetch(sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    """Run one statement with `{}` placeholders; its rows."""
    engine = OrderRow._meta.db
    if isinstance(engine, PostgresEngine):
        transaction = engine.current_transaction.get()
        if transaction is not None:
            return await transaction.connection.fetch(_numbered(sql), *args)  # type: ignore[no-any-return]
        if engine.pool is not None:
            return await engine.pool.fetch(_numbered(sql), *args)  # type: ignore[no-any-return]
    rows: list[dict[str, Any]] = await OrderRow.raw(sql, *args)
    return rows


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """Piccolo's `{}` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("{}")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

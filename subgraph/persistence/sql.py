"""Raw SQL for the hot paths, through Piccolo's `raw()` (asyncpg directly with an override).

Statements use Piccolo's `{}` placeholders, never formatted values, and run in the current
Piccolo transaction when there is one. With the `asyncpg_direct` override on (see
subgraph/overrides/asyncpg_direct.py) PostgreSQL statements skip Piccolo's query machinery.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from subgraph.persistence.engine import is_postgres
from subgraph.persistence.tables import OrderRow
from subgraph.settings import Settings

_direct: Any = None  # overrides.asyncpg_direct.fetch when that override is on


def use_overrides(settings: Settings) -> None:
    """Pick the path for this process's statements (called when the pool opens)."""
    global _direct
    _direct = None
    if settings.override("asyncpg_direct"):
        from subgraph.overrides import asyncpg_direct

        _direct = asyncpg_direct.fetch


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
    if _direct is not None:
        engine = OrderRow._meta.db
        if is_postgres(engine):
            rows: Sequence[Mapping[str, Any]] | None = await _direct(engine, sql, args)
            if rows is not None:
                return rows
    raw: list[dict[str, Any]] = await OrderRow.raw(sql, *args)
    return raw


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """Piccolo's `{}` placeholders as asyncpg's `$1, $2, ...` (asyncpg_direct, the bench)."""
    parts = sql.split("{}")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

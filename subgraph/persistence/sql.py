"""Raw SQL for the hot paths, through Piccolo's `raw()`.

Statements use Piccolo's `{}` placeholders, never formatted values, and run in the current
Piccolo transaction when there is one. (Sending them to asyncpg directly, past Piccolo's
query machinery, was measured and moved no bench cell beyond the run's spread:
docs/upgrading.md.)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

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
    rows: list[dict[str, Any]] = await OrderRow.raw(sql, *args)
    return rows


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """Piccolo's `{}` placeholders as PostgreSQL's `$1, $2, ...`, as asyncpg receives them."""
    parts = sql.split("{}")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

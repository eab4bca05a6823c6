"""Raw SQL straight to asyncpg on PostgreSQL, instead of through Piccolo's `raw()`.

Piccolo's raw queries compile a QueryString and copy every record into a dict on each call: a
fifth of a getOrder's CPU. Here a statement with Piccolo's `{}` placeholders goes to the
connection of Piccolo's current transaction when there is one (`engine.current_transaction`),
else to its pool (`engine.pool`), with the placeholders numbered as asyncpg wants them. Rows
are asyncpg Records, read by column name like Piccolo's dicts. Off (or outside a pool), the
statement runs through `Table.raw`, Piccolo's public path, with the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from subgraph.persistence.sql import _numbered as numbered


async def fetch(engine: PostgresEngine, sql: str, args: Sequence[Any]) -> Sequence[Any] | None:
    """The rows of `sql` run on asyncpg directly; None where Piccolo must run it (no pool)."""
    transaction = engine.current_transaction.get()
    if transaction is not None:
        rows: Sequence[Mapping[str, Any]] = await transaction.connection.fetch(numbered(sql), *args)
        return rows
    if engine.pool is not None:
        pooled: Sequence[Mapping[str, Any]] = await engine.pool.fetch(numbered(sql), *args)
        return pooled
    return None

"""Floor (e) times the very statements the service sends for an `_entities` batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from bench import floors
from subgraph.persistence import reads
from subgraph.persistence.reads import OrderReads
from subgraph.ports import OrderFilter, Parent


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The statements the repository would send to PostgreSQL, compiled as Piccolo sends them."""
    statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(engine: Any, text: str, *args: Any) -> list[Any]:
        compiled, values = QueryString(text, *args).compile_string(engine_type="postgres")
        statements.append((compiled, tuple(values)))
        return []

    monkeypatch.setattr(reads, "fetch", fetch)
    yield statements


def postgres_reads() -> OrderReads:
    """Reads on an engine that is never connected: the statements are caught before."""
    return OrderReads(PostgresEngine(config={"dsn": "postgresql://nowhere/never"}))


def _words(text: str) -> list[str]:
    return text.split()


async def test_the_users_floor_runs_the_statement_of_user_orders(
    sent: list[tuple[str, tuple[Any, ...]]],
) -> None:
    await postgres_reads().pages_of(
        Parent.USER, ["1", "2"], OrderFilter(), limit=floors.ENTITY_PAGE, offset=0
    )
    [(text, args)] = sent
    assert _words(text) == _words(floors.ORDERS_OF_USERS)
    assert args == (["1", "2"], floors.ENTITY_PAGE, 0)


async def test_the_orders_floor_runs_the_statement_of_orders_by_id(
    sent: list[tuple[str, tuple[Any, ...]]],
) -> None:
    await postgres_reads().get_many([3, 4])
    [(text, args)] = sent
    assert _words(text) == _words(floors.ORDERS_BY_ID)
    assert args == ([3, 4],)

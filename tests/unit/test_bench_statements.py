"""Floor (e) times the very statements the service sends for an `_entities` batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import floors
from subgraph.persistence import repository, sql
from subgraph.persistence.repository import OrderFilter, OrderRepository


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The statements the repository would send to PostgreSQL, numbered as asyncpg gets them."""
    statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(text: str, *args: Any) -> list[Any]:
        statements.append((sql._numbered(text), args))
        return []

    monkeypatch.setattr(repository, "fetch", fetch)
    monkeypatch.setattr(repository, "on_postgres", lambda: True)
    monkeypatch.setattr(sql, "on_postgres", lambda: True)
    yield statements


def _words(text: str) -> list[str]:
    return text.split()


async def test_the_users_floor_runs_the_statement_of_user_orders(
    sent: list[tuple[str, tuple[Any, ...]]],
) -> None:
    await OrderRepository().list_by_parents(
        "user_id", ["1", "2"], OrderFilter(), limit=floors.ENTITY_PAGE, offset=0
    )
    [(text, args)] = sent
    assert _words(text) == _words(floors.ORDERS_OF_USERS)
    assert args == (["1", "2"], floors.ENTITY_PAGE, 0)


async def test_the_orders_floor_runs_the_statement_of_orders_by_id(
    sent: list[tuple[str, tuple[Any, ...]]],
) -> None:
    await OrderRepository().get_many([3, 4])
    [(text, args)] = sent
    assert _words(text) == _words(floors.ORDERS_BY_ID)
    assert args == ([3, 4],)

"""Fixtures for the federation tests: the federated stack behind each gateway, one at a time.

``stack`` runs the orders subgraph (the real app on this run's PostgreSQL database, with a log
of its SQL statements), the users and products stand-ins and one gateway: @apollo/gateway,
Hive Gateway or Grafbase (see ``stack.py``). Every test that takes it runs once per gateway;
pytest keeps one stack running at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.federation.stack import GATEWAYS, Stack, running_stack


@pytest.fixture(scope="session", params=GATEWAYS)
def stack(
    request: pytest.FixtureRequest,
    postgres_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    name: str = request.param
    with running_stack(name, postgres_database, tmp_path_factory.mktemp(name)) as started:
        yield started


@pytest.fixture
async def fed(stack: Stack, db: str) -> Stack:
    """The running stack over an emptied orders database (order ids start at 1 again)."""
    return stack

"""Fixtures for the federation tests: the federated stack, started once per run.

``stack`` runs the orders subgraph (the real app on this run's PostgreSQL database, with a log
of its SQL statements), the users and products stand-ins and ``gateway.mjs`` (@apollo/gateway)
over the supergraph composed from their ``_service { sdl }``; see ``stack.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.federation.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(postgres_database, tmp_path_factory.mktemp("federation")) as started:
        yield started


@pytest.fixture
async def fed(stack: Stack, db: str) -> Stack:
    """The running stack over an emptied orders database (order ids start at 1 again)."""
    return stack

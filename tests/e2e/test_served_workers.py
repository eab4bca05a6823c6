"""`orders-subgraph serve --workers 2`: uvicorn's workers, and the port held by one server only.

It runs with LIBRARY_OVERRIDES as the run sets it: a socket per worker in .ci/run's first
pass, uvicorn's shared socket in the second (tests/overrides/test_socket_per_worker.py tests
the override itself).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.served_workers import Served, live, second_server_refused, serving, workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("workers"), overrides=None) as served:
        yield served


def test_a_second_server_on_the_same_port_refuses_to_start(server: Served, tmp_path: Path) -> None:
    _, port = server
    log = second_server_refused(tmp_path, port, overrides=None)
    assert "address already in use" in log.lower()
    assert live(port)  # the first server still answers


def test_both_workers_start_and_serve(server: Served) -> None:
    process, port = server
    assert len(workers(process.pid)) == 2
    assert all(live(port) for _ in range(8))

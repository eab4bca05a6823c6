"""`orders-subgraph serve --workers 2`: uvicorn's workers, and the port held by one server only.

It runs with LIBRARY_OVERRIDES as the run sets it: a socket per worker in .ci/run's first
pass, uvicorn's shared socket in the second (tests/overrides/test_socket_per_worker.py tests
the override itself).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import child_processes, free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _start(directory: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'orders.sqlite3'}",
    }
    env.pop("RABBITMQ_URL", None)
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    directory = tmp_path_factory.mktemp("workers")
    port = free_port()
    log = directory / "server.log"
    process = _start(directory, port, log)
    try:
        deadline = time.monotonic() + 60
        while len(_workers(process.pid)) < 2 or not _live(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_second_server_on_the_same_port_refuses_to_start(
    server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    _, port = server
    log = tmp_path / "second.log"
    second = _start(tmp_path, port, log)
    try:
        assert second.wait(timeout=60) != 0
    finally:
        if second.poll() is None:
            second.kill()
    assert "address already in use" in log.read_text().lower()
    assert _live(port)  # the first server still answers


def _live(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _workers(parent: int) -> list[int]:
    """uvicorn's worker processes: the children started by multiprocessing's spawn."""
    return sorted(
        pid for pid, command in child_processes(parent) if b"--multiprocessing-fork" in command
    )


def test_both_workers_start_and_serve(server: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = server
    assert len(_workers(process.pid)) == 2
    assert all(_live(port) for _ in range(8))

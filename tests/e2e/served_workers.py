"""`orders-subgraph serve --workers 2` on a SQLite file, for the tests of its workers and port
(tests/e2e/test_served_workers.py, tests/overrides/test_socket_per_worker.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import child_processes, free_port

Served = tuple[subprocess.Popen[bytes], int]  # the `serve` process and its port


def start(directory: Path, port: int, log: Path, overrides: str | None) -> subprocess.Popen[bytes]:
    """`serve --workers 2` on `port`; `overrides`, when given, sets LIBRARY_OVERRIDES."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{directory / 'orders.sqlite3'}"}
    if overrides is not None:
        env["LIBRARY_OVERRIDES"] = overrides
    env.pop("RABBITMQ_URL", None)
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def serving(directory: Path, overrides: str | None) -> Iterator[Served]:
    """A started server whose two workers both run and answer; stopped at the end."""
    port = free_port()
    log = directory / "server.log"
    process = start(directory, port, log, overrides)
    try:
        deadline = time.monotonic() + 60
        while len(workers(process.pid)) < 2 or not live(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=20)


def second_server_refused(directory: Path, port: int, overrides: str | None) -> str:
    """Start a second server on `port` and wait for it to fail; its log."""
    log = directory / "second.log"
    second = start(directory, port, log, overrides)
    try:
        assert second.wait(timeout=60) != 0
    finally:
        if second.poll() is None:
            second.kill()
    return log.read_text()


def live(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def workers(parent: int) -> list[int]:
    """uvicorn's worker processes: the children started by multiprocessing's spawn."""
    return sorted(
        pid for pid, command in child_processes(parent) if b"--multiprocessing-fork" in command
    )

"""The `socket_per_worker` override: under `serve --workers 2` each worker listens on a socket
of its own.

With one shared socket (stock uvicorn, the override off), the worker that woke first took a
whole burst of new connections (28 of 32 was common), and a router keeps its connections open,
so one worker idled. These servers run with the override on whatever LIBRARY_OVERRIDES says,
so the override is tested in both passes of .ci/run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import child_processes, free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

BURST = 32
ESTABLISHED, LISTEN = "01", "0A"  # states as /proc/net/tcp writes them


def _start(directory: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'orders.sqlite3'}",
        "LIBRARY_OVERRIDES": "socket_per_worker",
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


def test_a_burst_of_connections_is_spread_over_both_workers(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    workers = _workers(process.pid)
    for _ in range(5):
        connections = [
            socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(BURST)
        ]
        try:
            for connection in connections:  # every connection is served, none by the parent
                connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            for connection in connections:
                assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            held = [_sockets(worker, port, ESTABLISHED) for worker in workers]
        finally:
            for connection in connections:
                connection.close()
        assert sum(held) == BURST
        # Spread by address hash: a worker holding 4 or fewer of 32 has odds of about 1e-5.
        assert min(held) >= 5, held


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


def _sockets(pid: int, port: int, state: str) -> int:
    """How many TCP sockets on local `port` in `state` the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def test_a_worker_that_dies_is_replaced_by_one_listening_on_its_own_socket(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = server
    first, second = _workers(process.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (
        len(workers := _workers(process.pid)) < 2
        or first in workers
        or not all(_sockets(worker, port, LISTEN) for worker in workers)
    ):
        assert time.monotonic() < deadline, "uvicorn did not replace the worker"
        time.sleep(0.2)
    assert second in workers
    test_a_burst_of_connections_is_spread_over_both_workers(server)

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
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.served_workers import Served, live, second_server_refused, serving
from tests.e2e.served_workers import workers as worker_pids

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

BURST = 32
ESTABLISHED, LISTEN = "01", "0A"  # states as /proc/net/tcp writes them


OVERRIDES = "socket_per_worker"  # forced on, whatever LIBRARY_OVERRIDES the run sets


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("workers"), OVERRIDES) as served:
        yield served


def test_a_burst_of_connections_is_spread_over_both_workers(
    server: Served,
) -> None:
    process, port = server
    workers = worker_pids(process.pid)
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


def test_a_second_server_on_the_same_port_refuses_to_start(server: Served, tmp_path: Path) -> None:
    _, port = server
    log = second_server_refused(tmp_path, port, OVERRIDES)
    assert "address already in use" in log.lower()
    assert live(port)  # the first server still answers


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
    server: Served,
) -> None:
    process, port = server
    first, second = worker_pids(process.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (
        len(workers := worker_pids(process.pid)) < 2
        or first in workers
        or not all(_sockets(worker, port, LISTEN) for worker in workers)
    ):
        assert time.monotonic() < deadline, "uvicorn did not replace the worker"
        time.sleep(0.2)
    assert second in workers
    test_a_burst_of_connections_is_spread_over_both_workers(server)

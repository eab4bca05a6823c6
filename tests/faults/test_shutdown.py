"""`orders-subgraph serve` told to stop (SIGTERM): under a keep-alive load nothing is lost, and
a drain that cannot finish (a request held on its database) still ends, by a second SIGTERM
or at SHUTDOWN_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.cluster import OwnedPostgres, free_port
from tests.faults.conftest import REPOSITORY, database_name
from tests.faults.load import LoadGenerator
from tests.faults.proxy import TcpProxy
from tests.faults.scenarios import ORDERS, PLACE, health_url, numbers, record, wait_for_status
from tests.federation.processes import Server, child_env, start_http
from tests.support import ADMIN, child_processes

SHUTDOWN_TIMEOUT = 10
HELD_FOR = "60"  # seconds a held statement may take: longer than any test waits for it


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=1).status_code == 200


def _serve(database_url: str, log_dir: Path, *, workers: int = 1, **settings: str) -> Server:
    """`orders-subgraph serve` on a free port, once it is ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    command = [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)]
    return start_http(
        "serve",
        [*command, "--workers", str(workers)],
        port=port,
        ready=lambda: _answers(health_url(url, "ready")),
        cwd=REPOSITORY,
        env=child_env(DATABASE_URL=database_url, **settings),
        log_dir=log_dir,
    )


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


async def _all_gone(pids: list[int], *, within: float) -> bool:
    deadline = time.monotonic() + within
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_under_keep_alive_load_answers_every_request_received_and_exits_in_time(
    owned_database: str, tmp_path: Path, workers: int
) -> None:
    server = _serve(
        owned_database, tmp_path, workers=workers, SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT)
    )
    try:
        async with LoadGenerator(server.url, ORDERS, headers=ADMIN, concurrency=8) as load:
            await load.wait_until(lambda so_far: so_far.ok >= 300, within=30)
            children = child_processes(server.process.pid)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, SHUTDOWN_TIMEOUT + 5)
            exited = time.monotonic()
        report = await load.stop()
    finally:
        server.stop()
    received = report.between(report.started, exited)
    record(
        f"SIGTERM under keep-alive load, {workers} worker(s)",
        **numbers(received),
        exit_seconds=round(exited - signalled, 2),
        exit_code=code,
    )
    # Every request sent on an open connection was answered; what came after the listener
    # closed was refused (a clean "connection refused" the client can take elsewhere).
    assert received.count("transport:reset") == 0, received.summary()
    assert received.count("transport:closed") == 0, received.summary()
    assert received.count("transport:timeout") == 0, received.summary()
    refused = [r for r in received.results if r.outcome == "transport:connect"]
    # (A request begun just before the signal may connect after it: refused then too.)
    assert all(r.started + r.elapsed >= signalled for r in refused), received.summary()
    assert received.total - len(refused) == received.ok, received.summary()
    assert exited - signalled < SHUTDOWN_TIMEOUT, received.summary()
    assert code in (0, -signal.SIGTERM), code
    # uvicorn's supervisor waits for its workers: none is left when `serve` has exited. Its
    # other child, multiprocessing's resource tracker, ends when it reads EOF from `serve`'s
    # side of their pipe: a moment after `serve` itself, so the check waits for that moment.
    if workers > 1:
        assert len(children) >= workers
    assert await _all_gone([pid for pid, _ in children], within=5.0), [
        (pid, b" ".join(command)) for pid, command in children if _alive(pid)
    ]


@pytest.fixture
def held_insert(
    owned_postgres: OwnedPostgres, owned_database: str, pg_proxy: TcpProxy
) -> Iterator[str]:
    """The database URL through `pg_proxy`, which will hold every placeOrder's statement
    (from the first one on) so the request stays in progress; released after the test."""
    yield owned_postgres.dsn(database_name(owned_database), port=pg_proxy.port)
    pg_proxy.unstall()


async def _place_and_hold(
    client: httpx.AsyncClient, url: str, proxy: TcpProxy
) -> asyncio.Task[httpx.Response]:
    """Send a placeOrder and return once its statement is held by the proxy."""
    proxy.stall_on(b"INSERT INTO orders", "request")
    body = {"query": PLACE, "variables": {"key": "held"}}
    held = asyncio.create_task(client.post(url, json=body))
    deadline = time.monotonic() + 15
    while proxy.stalled < 1:
        if time.monotonic() > deadline or held.done():
            raise TimeoutError(f"the placeOrder was not held: {held}")
        await asyncio.sleep(0.01)
    return held


async def test_a_second_sigterm_during_the_drain_ends_the_process_at_once(
    held_insert: str, pg_proxy: TcpProxy, tmp_path: Path
) -> None:
    server = _serve(
        held_insert,
        tmp_path,
        SHUTDOWN_TIMEOUT_SECONDS=HELD_FOR,
        DB_STATEMENT_TIMEOUT_SECONDS=HELD_FOR,
    )
    try:
        async with httpx.AsyncClient(headers=ADMIN, timeout=float(HELD_FOR)) as client:
            held = await _place_and_hold(client, server.url, pg_proxy)
            server.process.send_signal(signal.SIGTERM)
            # Draining: readiness says so, and the held request keeps the process alive.
            await wait_for_status(client, health_url(server.url, "ready"), 503, within=10)
            assert server.process.poll() is None
            again = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, 15)
            took = time.monotonic() - again
            outcome = await asyncio.gather(held, return_exceptions=True)
    finally:
        server.stop()
    assert took < 3, took  # not the 60 s the drain would have waited
    assert code is not None
    assert isinstance(outcome[0], httpx.TransportError)  # cut, as asked for
    assert "second signal: exiting now" in server.log.read_text()


async def test_the_shutdown_timeout_ends_a_drain_whose_request_never_finishes(
    held_insert: str, pg_proxy: TcpProxy, tmp_path: Path
) -> None:
    timeout = 2
    server = _serve(
        held_insert,
        tmp_path,
        SHUTDOWN_TIMEOUT_SECONDS=str(timeout),
        DB_STATEMENT_TIMEOUT_SECONDS=HELD_FOR,
    )
    try:
        async with httpx.AsyncClient(headers=ADMIN, timeout=float(HELD_FOR)) as client:
            held = await _place_and_hold(client, server.url, pg_proxy)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, timeout + 15)
            took = time.monotonic() - signalled
            outcome = await asyncio.gather(held, return_exceptions=True)
    finally:
        server.stop()
    # It waited for the request as long as it was allowed to, and not much longer.
    assert timeout - 0.2 <= took < timeout + 2, took
    assert code is not None
    assert isinstance(outcome[0], httpx.TransportError)
    assert f"shutdown timeout ({timeout} s) reached" in server.log.read_text()

"""`orders-subgraph serve` told to stop (SIGTERM) under a keep-alive load: nothing is lost."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import httpx

from bench.cluster import free_port
from tests.faults.conftest import REPOSITORY
from tests.faults.load import LoadGenerator
from tests.faults.scenarios import ORDERS, health_url, numbers, record
from tests.federation.processes import child_env, start_http
from tests.support import ADMIN

SHUTDOWN_TIMEOUT = 10


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=1).status_code == 200


async def test_sigterm_under_keep_alive_load_answers_every_request_received_and_exits_in_time(
    owned_database: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    server = start_http(
        "serve",
        [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)],
        port=port,
        ready=lambda: _answers(health_url(url, "ready")),
        cwd=REPOSITORY,
        env=child_env(DATABASE_URL=owned_database, SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT)),
        log_dir=tmp_path,
    )
    try:
        async with LoadGenerator(url, ORDERS, headers=ADMIN, concurrency=8) as load:
            await load.wait_until(lambda so_far: so_far.ok >= 300, within=30)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, SHUTDOWN_TIMEOUT + 5)
            exited = time.monotonic()
        report = await load.stop()
    finally:
        server.stop()
    received = report.between(report.started, exited)
    record(
        "SIGTERM under keep-alive load",
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
    assert all(r.started >= signalled for r in refused), received.summary()
    assert received.total - len(refused) == received.ok, received.summary()
    assert received.between(signalled, exited).ok >= 0
    assert exited - signalled < SHUTDOWN_TIMEOUT, received.summary()
    assert code in (0, -signal.SIGTERM), code

"""`orders-subgraph serve` started while its database is down: alive at once, ready later."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.cluster import OwnedPostgres, free_port
from tests.faults.conftest import REPOSITORY
from tests.faults.scenarios import place, wait_for_status
from tests.federation.processes import child_env, start_http
from tests.support import ADMIN

ATTEMPT = "database not available at start-up (attempt"


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=1).status_code == 200


async def test_serve_with_the_database_down_stays_alive_retries_and_migrates_when_it_appears(
    owned_postgres: OwnedPostgres, owned_database: str, tmp_path: Path
) -> None:
    await owned_postgres.astop()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_http(
        "serve",
        [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)],
        port=port,
        ready=lambda: _answers(f"{base}/health/live"),
        cwd=REPOSITORY,
        env=child_env(
            DATABASE_URL=owned_database,
            DB_CONNECT_TIMEOUT_SECONDS="1",
            DB_STARTUP_RETRY_MAX_SECONDS="0.5",
        ),
        log_dir=tmp_path,
    )
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"{base}/health/ready")).status_code == 503
            # Several attempts, each one WARNING line, no traceback.
            await _wait_for_log(server.log, lambda text: text.count(ATTEMPT) >= 3)
            await owned_postgres.astart()
            took = await wait_for_status(client, f"{base}/health/ready", 200, within=10)
            assert (await client.get(f"{base}/health/live")).status_code == 200
            async with httpx.AsyncClient(headers=ADMIN, timeout=10) as writer:
                placed = await place(writer, f"{base}/graphql", "after-start", 10)
            assert placed.order_id is not None, placed.result.detail  # migrated
        log = await asyncio.to_thread(server.log.read_text)
        assert "Traceback" not in log, log
        assert all("WARNING" in line for line in log.splitlines() if ATTEMPT in line), log
        assert took < 5
    finally:
        server.stop()


async def _wait_for_log(path: Path, condition: Callable[[str], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition(text := await asyncio.to_thread(path.read_text)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"log condition not met in {within} s:\n{text}")
        await asyncio.sleep(0.05)

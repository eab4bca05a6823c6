"""Fixtures for the live-update tests: `orders-subgraph serve` processes on this run's
PostgreSQL database and RabbitMQ vhost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import RUN_ID, service_unavailable
from tests.messaging.conftest import CLOSED_PORT_URL, _rabbitmqctl
from tests.support import free_port

LIVE_VHOST = f"orders_live_{RUN_ID}"

START_TIMEOUT = 60.0


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def serve(
    directory: Path, *, database_url: str, rabbitmq_url: str, workers: int, **env: str
) -> Served:
    """`orders-subgraph serve` on a free port; returns once /health/live answers."""
    port = free_port()
    log = directory / f"serve-{port}.log"
    child_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": rabbitmq_url,
        "LOG_LEVEL": "WARNING",
        "LIVE_POLL_SECONDS": "0.5",
        **env,
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)),
                *("--workers", str(workers), "--no-migrate"),
            ],
            cwd=directory,
            env=child_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve did not start:\n{log.read_text()}")
        time.sleep(0.2)
    time.sleep(1.0 if workers > 1 else 0.2)  # the other workers finish their start-up
    return Served(url=f"http://127.0.0.1:{port}/graphql", process=process, log=log)


def stop(served: Served) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


@pytest.fixture(scope="session")
def live_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this module's own (the messaging tests delete theirs)."""
    try:
        _rabbitmqctl("add_vhost", LIVE_VHOST)
        _rabbitmqctl("set_permissions", "-p", LIVE_VHOST, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as error:
        service_unavailable("RabbitMQ (rabbitmqctl)", error)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{quote(LIVE_VHOST, safe='')}"
    finally:
        _rabbitmqctl("delete_vhost", LIVE_VHOST)


@pytest.fixture(scope="module")
def servers(
    postgres_database: str, live_vhost: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Served]]:
    """Two servers on two ports sharing the database and the broker: 2 workers and 1."""
    directory = tmp_path_factory.mktemp("live")
    first = serve(
        directory,
        database_url=postgres_database,
        rabbitmq_url=live_vhost,
        workers=2,
        SUBSCRIPTIONS_PER_CONNECTION="4",
    )
    try:
        second = serve(
            directory, database_url=postgres_database, rabbitmq_url=live_vhost, workers=1
        )
        try:
            yield first, second
        finally:
            stop(second)
    finally:
        stop(first)


@pytest.fixture(scope="module")
def broker_down_server(
    postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A server whose RabbitMQ is unreachable the whole time."""
    directory = tmp_path_factory.mktemp("live-no-broker")
    served = serve(
        directory, database_url=postgres_database, rabbitmq_url=CLOSED_PORT_URL, workers=1
    )
    try:
        yield served
    finally:
        stop(served)

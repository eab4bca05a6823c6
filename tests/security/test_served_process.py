"""The real `orders-subgraph serve` (uvicorn) on 127.0.0.1: what in-process tests cannot see.

Its access log prints request lines, query strings included, so a token sent in the URL must be
redacted there; and a chunked body with no Content-Length must still stop at the size limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, make_token

BODY_LIMIT = 4096


@dataclass(frozen=True)
class Served:
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("served")
    port = free_port()
    log = directory / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'orders.sqlite3'}",
        "REQUEST_MAX_BODY_BYTES": str(BODY_LIMIT),
        "LOG_LEVEL": "INFO",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Served(url, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        yield client


def log_once_it_shows(served: Served, text: str) -> str:
    """The server's output once `text` appears in it (uvicorn writes the access line after
    the response), or as it is after a few seconds."""
    deadline = time.monotonic() + 5
    while text not in (output := served.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return output


@pytest.mark.parametrize("parameter", ["token", "access_token"])
async def test_a_token_in_the_url_neither_authenticates_nor_reaches_the_log(
    http: httpx.AsyncClient, served: Served, parameter: str
) -> None:
    token = make_token("7", admin=True)
    response = await http.post(
        f"/graphql?{parameter}={token}&probe={parameter}", json={"query": "{ getOrders { id } }"}
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    output = log_once_it_shows(served, f"probe={parameter}")
    assert f"POST /graphql?{parameter}=[redacted]&probe={parameter}" in output
    assert token not in output


async def test_a_bearer_token_works_and_is_not_logged(
    http: httpx.AsyncClient, served: Served
) -> None:
    token = make_token("7")
    response = await http.post(
        "/graphql?probe=header",
        json={"query": "{ getOrders { id } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"getOrders": []}}
    assert token not in log_once_it_shows(served, "probe=header")


async def test_a_chunked_body_over_the_limit_is_refused_as_a_graphql_error(
    http: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }'
        for _ in range(8):
            yield b" " * 1024
        yield b'"}'

    response = await http.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": f"Request body is larger than the {BODY_LIMIT} bytes accepted",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }

"""The embedded default: `orders-subgraph serve` on a SQLite file, no server needed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, make_token

SEED_PLACE = (
    "mutation { placeOrder(userId: 1, productId: 1, quantity: 2) { success order { id status } } }"
)
SEED_UPDATE = 'mutation { updateOrder(id: 1, status: "Shipped") { success message } }'
SEED_LIST = "query { getOrders { id userId productId quantity status } }"


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "POSTGRES_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            process.kill()
            pytest.fail(
                f"server did not start:\n{process.stdout.read().decode() if process.stdout else ''}"
            )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_without_configuration_uses_a_sqlite_file_and_answers_the_seed_operations(
    sqlite_server: str, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {make_token('1', admin=True)}"}

    def call(query: str) -> dict[str, object]:
        response = httpx.post(f"{sqlite_server}/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body

    assert call(SEED_PLACE) == {
        "data": {"placeOrder": {"success": True, "order": {"id": "1", "status": "PENDING"}}}
    }
    assert call(SEED_UPDATE) == {
        "data": {"updateOrder": {"success": True, "message": "Order updated successfully"}}
    }
    assert call(SEED_LIST) == {
        "data": {
            "getOrders": [
                {"id": "1", "userId": "1", "productId": "1", "quantity": 2, "status": "SHIPPED"}
            ]
        }
    }
    assert (tmp_path / "orders.sqlite3").exists()

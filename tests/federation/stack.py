"""The federated stack: servers started as child processes, and calls to them.

``running_stack`` runs, as child processes: the orders subgraph (the real app under uvicorn,
on the given PostgreSQL database, with a log of its SQL statements), the users and products
stand-ins, and ``gateway.mjs`` (@apollo/gateway) serving the supergraph composed from the
three subgraphs' ``_service { sdl }`` with the pinned @apollo/composition. Every process is
stopped when the block ends, also when a start fails half way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.federation import processes
from tests.federation.composition import GATEWAY_SCRIPT, REPO, compose, node_executable

HTTP_TIMEOUT = 60.0
ORDERS_TABLE_READ = ("from orders", 'from "orders"')


@dataclass(frozen=True)
class Stack:
    gateway_url: str
    orders_url: str

    async def gateway(self, query: str, **kwargs: Any) -> dict[str, Any]:
        """One operation through the gateway, as a router's client sends it."""
        return await post_graphql(self.gateway_url, query, **kwargs)

    async def orders(self, query: str, **kwargs: Any) -> dict[str, Any]:
        """One operation straight to the orders subgraph, as the gateway sends it."""
        return await post_graphql(self.orders_url, query, **kwargs)

    async def statements(self) -> list[str]:
        """Every SQL statement the orders subgraph has sent so far."""
        base = self.orders_url.removesuffix("/graphql")
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            response = await client.get(f"{base}/_test/statements")
        response.raise_for_status()
        statements: list[str] = response.json()
        return statements


async def post_graphql(
    url: str,
    query: str,
    *,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST one operation; the HTTP layer must answer 200 with a JSON GraphQL response."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
        response = await client.post(
            url, json={"query": query, "variables": variables or {}}, headers=headers or {}
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reads_orders_table(statement: str) -> bool:
    return any(marker in statement.lower() for marker in ORDERS_TABLE_READ)


def service_sdl(url: str) -> str:
    response = httpx.post(url, json={"query": "{ _service { sdl } }"}, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    sdl: str = response.json()["data"]["_service"]["sdl"]
    return sdl


@contextmanager
def running_stack(database_url: str, workdir: Path) -> Iterator[Stack]:
    """Start everything (bounded waits), yield, and stop every process started, in any case."""
    node = node_executable()
    env = processes.child_env(
        DATABASE_URL=database_url,
        JWT_SECRET_KEY=os.environ["JWT_SECRET_KEY"],
        LOG_LEVEL="WARNING",
    )
    python = [sys.executable, "-m"]
    with ExitStack() as running:

        def start(name: str, argv: list[str]) -> processes.Server:
            server = processes.start(name, argv, cwd=REPO, env=env, log_dir=workdir)
            running.callback(server.stop)
            return server

        orders = start("orders", [*python, "tests.federation.orders_server", "--port", "0"])
        users = start("users", [*python, "tests.standins.users", "--port", "0"])
        products = start("products", [*python, "tests.standins.products", "--port", "0"])

        composed = compose(
            {s.name: (service_sdl(s.url), s.url) for s in (users, products, orders)},
            workdir / "subgraphs",
        )
        assert composed.errors == [], composed.errors
        assert composed.supergraph_sdl is not None
        supergraph = workdir / "supergraph.graphql"
        supergraph.write_text(composed.supergraph_sdl, encoding="utf-8")

        gateway = start(
            "gateway",
            [node, str(GATEWAY_SCRIPT), "--supergraph", str(supergraph), "--port", "0"],
        )
        yield Stack(gateway_url=gateway.url, orders_url=orders.url)

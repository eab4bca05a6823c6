"""The federated stack behind each of the three gateways: servers started as child processes.

``running_stack`` runs, as child processes: the orders subgraph (the real app under uvicorn,
on the given PostgreSQL database, with a log of its SQL statements), the users and products
stand-ins, and one gateway in front of them:

- ``apollo-gateway``: @apollo/gateway (``gateways/apollo-gateway/gateway.mjs``), which plans
  queries as Apollo Router does, over the supergraph composed with the pinned
  @apollo/composition. It refuses a supergraph that links ``@authenticated`` for SECURITY, so
  its orders subgraph runs with ``FEDERATION_DIRECTIVES`` empty.
- ``hive``: Hive Gateway (``gateways/hive/gateway.config.ts``) over the same composed
  supergraph (its own composition rejects federation v2.11), with demand control on.
- ``grafbase``: ``grafbase dev`` (``gateways/grafbase/grafbase.toml``), which composes the
  three SDL files itself.

Every process is stopped when the block ends, also when a start fails half way.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.federation import processes
from tests.federation.composition import GATEWAY_SCRIPT, REPO, compose, node_executable
from tests.federation.gateway_grafbase import start_grafbase
from tests.federation.gateway_hive import start_hive

HTTP_TIMEOUT = 60.0
ORDERS_TABLE_READ = ("from orders", 'from "orders"')

GATEWAYS = ("apollo-gateway", "hive", "grafbase")
# What each gateway needs of the orders subgraph's SDL (FEDERATION_DIRECTIVES).
DIRECTIVES = {
    "apollo-gateway": "",
    "hive": "authenticated,listSize",
    "grafbase": "authenticated,listSize",
}
# Grafbase 0.103 refuses integer literals for ID arguments ("Found a Integer value where we
# expected a ID scalar"), though the GraphQL spec lets ID accept them: it gets string ids.
ID_LITERAL = re.compile(r"\b((?:id|userId|productId):\s*)(\d+)\b")


@dataclass(frozen=True)
class Stack:
    gateway_name: str
    gateway_url: str
    orders_url: str

    @property
    def federation_directives(self) -> set[str]:
        """The router directives the orders subgraph of this stack prints."""
        return {name for name in DIRECTIVES[self.gateway_name].split(",") if name}

    def operation(self, document: str) -> str:
        """`document` as this gateway accepts it: verbatim, or with string ids for Grafbase."""
        if self.gateway_name == "grafbase":
            return ID_LITERAL.sub(r'\1"\2"', document)
        return document

    async def gateway(self, query: str, **kwargs: Any) -> dict[str, Any]:
        """One operation through the gateway, as a router's client sends it."""
        return await post_graphql(self.gateway_url, self.operation(query), **kwargs)

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
def running_stack(gateway_name: str, database_url: str, workdir: Path) -> Iterator[Stack]:
    """Start everything (bounded waits), yield, and stop every process started, in any case."""
    node = node_executable()
    env = processes.child_env(
        DATABASE_URL=database_url,
        JWT_SECRET_KEY=os.environ["JWT_SECRET_KEY"],
        LOG_LEVEL="WARNING",
    )
    python = [sys.executable, "-m"]
    with ExitStack() as running:

        def start(name: str, argv: list[str], **extra_env: str) -> processes.Server:
            server = processes.start(
                name, argv, cwd=REPO, env={**env, **extra_env}, log_dir=workdir
            )
            running.callback(server.stop)
            return server

        orders = start(
            "orders",
            [*python, "tests.federation.orders_server", "--port", "0"],
            FEDERATION_DIRECTIVES=DIRECTIVES[gateway_name],
        )
        users = start("users", [*python, "tests.standins.users", "--port", "0"])
        products = start("products", [*python, "tests.standins.products", "--port", "0"])
        subgraphs = {s.name: (service_sdl(s.url), s.url) for s in (users, products, orders)}

        if gateway_name == "grafbase":
            sdl_files = {}
            for name, (sdl, url) in subgraphs.items():
                path = workdir / f"{name}.graphql"
                path.write_text(sdl, encoding="utf-8")
                sdl_files[name] = (path, url)
            gateway = start_grafbase(subgraphs=sdl_files, workdir=workdir, env=env)
        else:
            composed = compose(subgraphs, workdir / "subgraphs")
            assert composed.errors == [], composed.errors
            assert composed.supergraph_sdl is not None
            supergraph = workdir / "supergraph.graphql"
            supergraph.write_text(composed.supergraph_sdl, encoding="utf-8")
            if gateway_name == "hive":
                gateway = start_hive(supergraph=supergraph, workdir=workdir, env=env)
            else:
                gateway = start(
                    gateway_name,
                    [node, str(GATEWAY_SCRIPT), "--supergraph", str(supergraph), "--port", "0"],
                )
        running.callback(gateway.stop)
        yield Stack(gateway_name=gateway_name, gateway_url=gateway.url, orders_url=orders.url)

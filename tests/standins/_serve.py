"""Shared command line for the stand-in subgraphs (tests and local demo only).

Every server started here prints one line ``READY <port>`` on stdout once it accepts
connections, so a test can start it on ``--port 0`` (a free port) and wait for that line
instead of polling or guessing.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

import strawberry


def serve(schema: strawberry.Schema, *, name: str, default_port: int) -> None:
    """Serve ``schema`` at ``http://127.0.0.1:<port>/graphql`` with uvicorn."""
    parser = argparse.ArgumentParser(
        prog=f"python -m tests.standins.{name}",
        description=f"Stand-in '{name}' Federation 2 subgraph (tests and demo only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument(
        "--print-sdl",
        action="store_true",
        help="print the subgraph SDL (as served by _service { sdl }) and exit",
    )
    args = parser.parse_args()
    if args.print_sdl:
        print(schema.as_str())
        return
    run(make_app(schema), host=args.host, port=args.port)


def make_app(schema: strawberry.Schema) -> Any:
    """A Litestar app serving ``schema`` at ``/graphql`` (no GraphiQL: offline)."""
    from litestar import Litestar
    from strawberry.litestar import make_graphql_controller

    controller = make_graphql_controller(schema, path="/graphql", graphql_ide=None)
    return Litestar(route_handlers=[controller])


def run(app: Any, *, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; print ``READY <port>`` once it is listening."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"READY {sock.getsockname()[1]}", flush=True)

    # Binding here (not in uvicorn) lets ``--port 0`` report the port the kernel chose.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = AnnouncingServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    asyncio.run(server.serve(sockets=[sock]))
    if not server.started:
        raise SystemExit(f"{host}:{port}: the server did not start (see the log above)")

"""Shared command line for the stand-in subgraphs (tests and local demo only)."""

from __future__ import annotations

import argparse

import strawberry


def serve(schema: strawberry.Schema, *, name: str, default_port: int) -> None:
    """Serve ``schema`` at ``http://127.0.0.1:<port>/graphql`` with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog=f"python -m tests.standins.{name}",
        description=f"Stand-in '{name}' Federation 2 subgraph (tests and demo only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument(
        "--print-sdl",
        action="store_true",
        help="print the subgraph SDL (as served by _service { sdl }) and exit",
    )
    args = parser.parse_args()
    if args.print_sdl:
        print(schema.as_str())
        return
    uvicorn.run(make_app(schema), host=args.host, port=args.port, log_level="warning")


def make_app(schema: strawberry.Schema):  # -> litestar.Litestar
    """A Litestar app serving ``schema`` at ``/graphql`` (no GraphiQL: offline)."""
    from litestar import Litestar
    from strawberry.litestar import make_graphql_controller

    controller = make_graphql_controller(schema, path="/graphql", graphql_ide=None)
    return Litestar(route_handlers=[controller])

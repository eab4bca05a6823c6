"""The orders subgraph as the federation tests run it: the real app, plus a log of its SQL.

Run: ``python -m tests.federation.orders_server --port 0`` with DATABASE_URL pointing at an
already migrated PostgreSQL database. It serves ``create_app()`` exactly as ``orders-subgraph
serve`` would (same settings, same pool) and adds one route for the tests,
``GET /_test/statements``: every SQL statement the app's pool sent so far, in order.

The statements come from asyncpg's own query logger (``Connection.add_query_logger``),
attached to each pool connection through asyncpg's ``init`` hook when the app opens its pool,
so nothing in the subgraph's code changes and what is counted is what reached PostgreSQL.
"""

from __future__ import annotations

import argparse
from typing import Any

from litestar import get

STATEMENTS: list[str] = []


def _record(logged: Any) -> None:
    STATEMENTS.append(logged.query)


async def _log_statements_of(connection: Any) -> None:
    connection.add_query_logger(_record)


@get("/_test/statements", sync_to_thread=False, include_in_schema=False)
def statements() -> list[str]:
    """Every SQL statement sent since start-up, oldest first."""
    return STATEMENTS


def _install_statement_log() -> None:
    import asyncpg

    # Piccolo opens its pool with `asyncpg.create_pool(**config)`; this test-only process
    # adds asyncpg's documented per-connection `init` hook to it.
    create_pool = asyncpg.create_pool

    def create_pool_with_log(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, init=_log_statements_of, **kwargs)

    asyncpg.create_pool = create_pool_with_log


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.federation.orders_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()

    from subgraph.app import create_app
    from tests.standins._serve import run

    _install_statement_log()
    app = create_app()
    app.register(statements)
    run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()

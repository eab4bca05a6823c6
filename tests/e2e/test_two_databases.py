"""`create_app(settings)` chooses the database: two apps in one process keep their orders apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from litestar.testing import AsyncTestClient

from subgraph.app import create_app
from subgraph.settings import Settings
from tests.support import bearer, gql

PLACE = "mutation($p: ID!) { placeOrder(userId: 1, productId: $p, quantity: 1) { success } }"
LIST = "{ getOrders { productId } }"


def migrated_sqlite_file(folder: Path) -> str:
    """A SQLite database at the latest schema, migrated as `orders-subgraph migrate` does."""
    url = f"sqlite:///{folder / 'orders.sqlite3'}"
    subprocess.run(
        [sys.executable, "-m", "subgraph.cli", "migrate"],
        env={**os.environ, "DATABASE_URL": url},
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


async def test_two_apps_on_two_databases_each_list_only_their_own_orders(
    db: str, tmp_path: Path
) -> None:
    sqlite_url = migrated_sqlite_file(tmp_path)
    on_postgres = create_app(Settings(database_url=db))
    on_sqlite = create_app(Settings(database_url=sqlite_url))
    admin = bearer(1, admin=True)

    async with AsyncTestClient(on_postgres) as pg, AsyncTestClient(on_sqlite) as lite:
        placed = [
            await gql(pg, PLACE, {"p": "from-postgres"}, admin),
            await gql(lite, PLACE, {"p": "from-sqlite"}, admin),
        ]
        listed = [await gql(pg, LIST, headers=admin), await gql(lite, LIST, headers=admin)]

    assert placed == [{"data": {"placeOrder": {"success": True}}}] * 2
    assert listed == [
        {"data": {"getOrders": [{"productId": "from-postgres"}]}},
        {"data": {"getOrders": [{"productId": "from-sqlite"}]}},
    ]

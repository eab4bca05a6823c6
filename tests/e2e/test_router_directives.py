"""FEDERATION_DIRECTIVES shapes what composition reads, over both ways of reading it:
`_service { sdl }` on the served app and `orders-subgraph schema`; never what is enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.security.conftest import error_codes
from tests.security.test_start_up_settings import run_cli
from tests.support import gql

REPO = Path(__file__).resolve().parents[2]
COMMITTED = (REPO / "schema.graphql").read_text(encoding="utf-8")
FULL_IMPORT = '"@authenticated", "@key", "@listSize"'

CHOICES = [
    ("authenticated,listSize", FULL_IMPORT),
    ("authenticated", '"@authenticated", "@key"'),
    ("listSize", '"@key", "@listSize"'),
    ("", '"@key"'),
]


async def served_sdl(client: Any) -> str:
    body = await gql(client, "{ _service { sdl } }")
    sdl: str = body["data"]["_service"]["sdl"]
    return sdl


@pytest.mark.parametrize(("value", "imports"), CHOICES)
async def test_service_sdl_carries_only_the_chosen_directives(
    app_with: AppFactory, value: str, imports: str
) -> None:
    async with app_with(federation_directives=value) as client:
        sdl = await served_sdl(client)
    assert f"import: [{imports}]" in sdl.splitlines()[0]
    assert sdl.count("@authenticated") == (9 if "authenticated" in value else 0)
    assert sdl.count("@listSize") == (4 if "listSize" in value else 0)


async def test_by_default_the_service_sdl_is_the_committed_schema(app_with: AppFactory) -> None:
    async with app_with() as client:
        assert await served_sdl(client) + "\n" == COMMITTED


@pytest.mark.parametrize(("value", "imports"), CHOICES)
def test_the_schema_command_prints_the_same_sdl_as_the_service(
    tmp_path: Path, value: str, imports: str
) -> None:
    printed = run_cli(tmp_path, "schema", FEDERATION_DIRECTIVES=value)
    assert printed.returncode == 0, printed.stderr
    assert f"import: [{imports}]" in printed.stdout.splitlines()[0]
    if value == "authenticated,listSize":
        assert printed.stdout == COMMITTED


def test_an_unknown_directive_refuses_to_start_naming_it(tmp_path: Path) -> None:
    refused = run_cli(tmp_path, "serve", FEDERATION_DIRECTIVES="Authenticated, bogus")
    assert refused.returncode == 2
    assert refused.stderr.startswith("orders-subgraph: invalid settings: FEDERATION_DIRECTIVES: ")
    assert "unknown directive(s) bogus" in refused.stderr
    assert not (tmp_path / "orders.sqlite3").exists()  # refused before migrating


async def test_without_the_directives_order_fields_still_need_a_token(
    app_with: AppFactory,
) -> None:
    async with app_with(federation_directives="") as client:
        listed = await gql(client, "{ getOrders { id } }")
        placed = await gql(
            client, 'mutation { placeOrder(userId: "1", productId: "1", quantity: 1) { success } }'
        )
    assert listed["data"] is None and error_codes(listed) == ["UNAUTHENTICATED"]
    assert placed["data"] is None and error_codes(placed) == ["UNAUTHENTICATED"]

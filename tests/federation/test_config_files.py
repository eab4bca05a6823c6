"""The committed schema.graphql, supergraph.yaml and router.yaml stay true to the code."""

from __future__ import annotations

from typing import Any

import pytest

from subgraph.cli import main
from tests.federation.composition import (
    REPO,
    expand_defaults,
    locked_npm_version,
    router_config,
    supergraph_config,
)

SUBGRAPHS = {"users", "products", "orders"}


def test_the_committed_schema_graphql_is_what_orders_subgraph_schema_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    committed = (REPO / "schema.graphql").read_text(encoding="utf-8")
    assert committed == printed, (
        "schema.graphql is stale: run `orders-subgraph schema > schema.graphql` and commit it"
    )


def test_supergraph_yaml_pins_the_composition_version_the_tests_compose_with() -> None:
    pinned = supergraph_config()["federation_version"]
    assert pinned == "=" + locked_npm_version("@apollo/composition")


def test_supergraph_yaml_takes_orders_from_schema_graphql_and_introspects_the_others() -> None:
    subgraphs: dict[str, Any] = supergraph_config()["subgraphs"]
    assert set(subgraphs) == SUBGRAPHS
    assert subgraphs["orders"]["schema"] == {"file": "./schema.graphql"}
    sources = {
        name: expand_defaults(subgraphs[name]["schema"]["subgraph_url"])
        for name in ("users", "products")
    }
    assert sources == {
        "users": "http://127.0.0.1:4001/graphql",
        "products": "http://127.0.0.1:4002/graphql",
    }


def test_supergraph_yaml_and_router_yaml_route_to_the_same_local_defaults() -> None:
    composed = {
        name: expand_defaults(subgraph["routing_url"])
        for name, subgraph in supergraph_config()["subgraphs"].items()
    }
    overridden = {
        name: expand_defaults(url) for name, url in router_config()["override_subgraph_url"].items()
    }
    assert (
        composed
        == overridden
        == {
            "users": "http://127.0.0.1:4001/graphql",
            "products": "http://127.0.0.1:4002/graphql",
            "orders": "http://127.0.0.1:5000/graphql",
        }
    )


def test_router_yaml_passes_the_token_and_trace_context_to_the_orders_subgraph() -> None:
    config = router_config()
    rules = config["headers"]["subgraphs"]["orders"]["request"]
    propagated = {rule["propagate"]["named"] for rule in rules if "propagate" in rule}
    assert {"authorization", "traceparent"} <= propagated
    # Without this the router would replace UNAUTHENTICATED/FORBIDDEN by a redacted error.
    assert config["include_subgraph_errors"]["subgraphs"]["orders"] is True

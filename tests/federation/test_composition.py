"""schema.graphql composes with the users and products stand-ins under the pinned
@apollo/composition, as `rover supergraph compose --config supergraph.yaml` would do it."""

from __future__ import annotations

import pytest
from graphql import DocumentNode, parse

from tests.federation.composition import (
    REPO,
    Composition,
    compose,
    expand_defaults,
    supergraph_config,
)
from tests.federation.sdl import directive_uses
from tests.standins import products, users

# Reviewed: composition 2.14.4 gives no hints for these three subgraphs. A new hint code
# means a schema change worth a look (and then an entry here with the reason it is fine).
EXPECTED_HINT_CODES: set[str] = set()


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Composition:
    sdl = {
        "orders": (REPO / "schema.graphql").read_text(encoding="utf-8"),
        "users": users.schema.as_str(),
        "products": products.schema.as_str(),
    }
    subgraphs = supergraph_config()["subgraphs"]
    return compose(
        {name: (sdl[name], expand_defaults(s["routing_url"])) for name, s in subgraphs.items()},
        tmp_path_factory.mktemp("composition"),
    )


@pytest.fixture(scope="module")
def supergraph(composed: Composition) -> DocumentNode:
    assert composed.supergraph_sdl is not None, composed.errors
    return parse(composed.supergraph_sdl)


def test_orders_users_and_products_compose_without_errors(composed: Composition) -> None:
    for hint in composed.hints:
        print(f"composition hint: {hint}")
    assert composed.errors == []
    assert composed.supergraph_sdl


def test_composition_hints_are_only_the_reviewed_ones(composed: Composition) -> None:
    assert composed.hint_codes == EXPECTED_HINT_CODES, composed.hints


def test_the_supergraph_routes_each_subgraph_to_its_supergraph_yaml_url(
    supergraph: DocumentNode,
) -> None:
    graphs = {
        str(args["name"]): str(args["url"]) for _, args in directive_uses(supergraph, "join__graph")
    }
    assert graphs == {
        "users": "http://127.0.0.1:4001/graphql",
        "products": "http://127.0.0.1:4002/graphql",
        "orders": "http://127.0.0.1:5000/graphql",
    }


def test_every_authenticated_and_list_size_of_our_schema_survives_composition(
    supergraph: DocumentNode,
) -> None:
    ours = parse((REPO / "schema.graphql").read_text(encoding="utf-8"))
    for directive in ("authenticated", "listSize"):
        in_subgraph = {(c, str(a)) for c, a in directive_uses(ours, directive)}
        in_supergraph = {(c, str(a)) for c, a in directive_uses(supergraph, directive)}
        assert in_subgraph, f"schema.graphql uses no @{directive}"
        assert in_subgraph == in_supergraph, directive

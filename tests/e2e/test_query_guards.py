"""The depth and alias guards hold on every request, also once a query is cached."""

from __future__ import annotations

from typing import Any

from tests.support import ADMIN, gql


def _deep_query(levels: int) -> str:
    """getOrder { user { orders { user { orders ... } } } } nested `levels` times."""
    inner = "id"
    for _ in range(levels):
        inner = f"user {{ orders {{ {inner} }} }}"
    return f"query Deep {{ getOrder(id: 1) {{ {inner} }} }}"


def _aliased_query(count: int) -> str:
    return "query Many { " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


async def test_a_too_deep_query_is_refused_every_time_it_is_sent(client: Any) -> None:
    for _ in range(3):
        body = await gql(client, _deep_query(8), headers=ADMIN)
        assert body.get("data") is None
        assert "exceeds maximum operation depth of 12" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused_every_time_they_are_sent(client: Any) -> None:
    for _ in range(3):
        body = await gql(client, _aliased_query(31), headers=ADMIN)
        assert body.get("data") is None
        assert "31 aliases found. Allowed: 30" in body["errors"][0]["message"]


async def test_queries_within_the_guards_are_answered(client: Any) -> None:
    assert (await gql(client, _aliased_query(30), headers=ADMIN))["data"]["a29"] == "Query"
    body = await gql(client, _deep_query(2), headers=ADMIN)
    assert "errors" not in body
    assert body["data"] == {"getOrder": None}

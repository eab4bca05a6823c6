"""Entity and list lookups batch: one SQL statement per DataLoader batch, never one per parent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.support import ADMIN, gql


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement that reaches asyncpg during the test (they still run).

    Counted at asyncpg's `Connection._execute`, which every fetch goes through, whether the
    repository calls asyncpg directly or through Piccolo.
    """
    seen: list[str] = []
    original = asyncpg.connection.Connection._execute

    async def counting(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counting)
    yield seen


def orders_selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "orders" in s]


PLACE_FOR_USER = (
    "mutation($u: ID!) { placeOrder(userId: $u, productId: 9, quantity: 1) { success } }"
)
ORDER_ENTITIES = (
    "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Order { id quantity } } }"
)
ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on User { id orders(limit: 5) { id userId history { status } } }
  }
}"""


async def test_orders_of_50_users_come_from_one_query(client: Any, statements: list[str]) -> None:
    for user in range(1, 51):
        for _ in range(2):
            body = await gql(
                client,
                PLACE_FOR_USER,
                {"u": str(user)},
                headers=ADMIN,
            )
            assert body["data"]["placeOrder"]["success"] is True
    statements.clear()

    reps = [{"__typename": "User", "id": str(user)} for user in range(1, 51)]
    body = await gql(client, ENTITIES, {"reps": reps}, headers=ADMIN)

    users = body["data"]["_entities"]
    assert [u["id"] for u in users] == [str(user) for user in range(1, 51)]
    assert all(len(u["orders"]) == 2 for u in users)
    assert all(o["userId"] == u["id"] for u in users for o in u["orders"])
    order_queries = [s for s in orders_selects(statements) if "order_status_changes" not in s]
    history_queries = [s for s in statements if "order_status_changes" in s]
    assert len(order_queries) == 1, order_queries
    assert len(history_queries) == 1, "the 100 histories are one batch too"


async def test_order_entities_resolve_in_one_query(client: Any, statements: list[str]) -> None:
    ids = []
    for _ in range(20):
        body = await gql(
            client,
            "mutation { placeOrder(userId: 1, productId: 2, quantity: 3) { order { id } } }",
            headers=ADMIN,
        )
        ids.append(body["data"]["placeOrder"]["order"]["id"])
    statements.clear()

    reps = [{"__typename": "Order", "id": i} for i in ids] + [
        {"__typename": "Order", "id": "99999"}
    ]
    body = await gql(
        client,
        ORDER_ENTITIES,
        {"reps": reps},
        headers=ADMIN,
    )
    entities = body["data"]["_entities"]
    assert [e["id"] for e in entities[:-1]] == ids
    assert entities[-1] is None, "an unknown id resolves to null"
    assert len(orders_selects(statements)) == 1

"""Every override on, and every one off: the same answers, errors and codes included.

The second pass of .ci/run runs the whole suite with LIBRARY_OVERRIDES=none; this test puts the
two side by side in one run, on the same data, for the shapes the overrides take short cuts on
(plain leaves, lists of them, entities, errors of every phase).
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import AppFactory
from tests.support import ADMIN, bearer

ALICE = bearer("7")

PLACE = """
mutation($u: ID!, $p: ID!, $q: Int!) {
  placeOrder(userId: $u, productId: $p, quantity: $q) { success order { id } }
}"""

READS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("{ getOrders { id userId productId quantity status createdAt updatedAt } }", {}, ADMIN),
    ("{ getOrders(limit: 2, offset: 1) { __typename id status history { status } } }", {}, ADMIN),
    (
        "query($id: ID!) { getOrder(id: $id) { id quantity user { id } product { id } } }",
        {"id": "1"},
        ADMIN,
    ),
    ("query($id: ID!) { getOrder(id: $id) { id } }", {"id": "999999"}, ADMIN),
    ("{ getOrders { id } }", {}, ALICE),
    ("{ getOrders { id } }", {}, {}),
    ("{ getOrders { nope } }", {}, ADMIN),
    ("{ getOrders { id ", {}, ADMIN),
    ("{ __typename }", {}, {}),
    (
        "query($r: [_Any!]!) { _entities(representations: $r) {"
        " ... on User { id orders(limit: 5) { id status } }"
        " ... on Order { id quantity } ... on Product { id } } }",
        {
            "r": [
                {"__typename": "User", "id": "7"},
                {"__typename": "Order", "id": "2"},
                {"__typename": "Order", "id": "424242"},
                {"__typename": "Product", "id": "1"},
                {"__typename": "User", "id": "8"},
            ]
        },
        ADMIN,
    ),
    (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id } } }",
        {"r": [{"__typename": "Order"}]},
        ADMIN,
    ),
    (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id } } }",
        {"r": [{"__typename": "Nope", "id": "1"}]},
        ADMIN,
    ),
    ("query($s: String) { getOrders(status: $s) { id } }", {"s": "PENDING"}, ADMIN),
    ("{ _service { sdl } }", {}, {}),
]


async def _answers(client: Any) -> list[tuple[int, Any]]:
    answers = []
    for query, variables, headers in READS:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        answers.append((response.status_code, _without_request_ids(response.json())))
    return answers


def _without_request_ids(body: Any) -> Any:
    text = json.dumps(body, sort_keys=True)
    for error in body.get("errors", []) if isinstance(body, dict) else []:
        request_id = (error.get("extensions") or {}).get("requestId")
        if request_id:
            text = text.replace(request_id, "<request id>")
    return json.loads(text)


async def test_every_override_on_or_off_answers_the_same(app_with: AppFactory) -> None:
    async with app_with(library_overrides="all") as client:
        for user, product, quantity in [("7", "1", 2), ("7", "2", 3), ("8", "1", 1), ("7", "3", 5)]:
            placed = await client.post(
                "/graphql",
                json={"query": PLACE, "variables": {"u": user, "p": product, "q": quantity}},
                headers=ADMIN,
            )
            assert placed.json()["data"]["placeOrder"]["success"] is True
        on = await _answers(client)
    async with app_with(library_overrides="none") as client:
        off = await _answers(client)
    async with app_with(library_overrides="all") as client:
        on_again = await _answers(client)

    assert on == on_again  # nothing here depends on the order of the runs
    for query, a, b in zip(READS, on, off, strict=True):
        assert a == b, query[0]

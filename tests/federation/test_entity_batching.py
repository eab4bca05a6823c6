"""Entity lookups are batched: one SQL statement on `orders` per batch, however many entities.

The statements are those the orders subgraph's pool actually sent to PostgreSQL, read from
the test server's log (see orders_server.py).
"""

from __future__ import annotations

from tests.federation.seeding import insert_orders
from tests.federation.stack import Stack, reads_orders_table
from tests.support import ADMIN


async def orders_statements_during(fed: Stack, before: int) -> list[str]:
    return [s for s in (await fed.statements())[before:] if reads_orders_table(s)]


async def test_the_orders_of_fifty_users_are_read_with_one_sql_statement(fed: Stack) -> None:
    # Two orders for each of users 1..50, and one for user 51, who is not asked for.
    await insert_orders([(user, product) for product in (1, 2) for user in range(1, 51)])
    await insert_orders([(51, 1)])
    before = len(await fed.statements())

    body = await fed.gateway(
        "{ users(first: 50) { id orders { userId productId } } }", headers=ADMIN
    )

    users = body["data"]["users"]
    assert [u["id"] for u in users] == [str(i) for i in range(1, 51)]
    for user in users:
        assert user["orders"] == [
            {"userId": user["id"], "productId": "2"},
            {"userId": user["id"], "productId": "1"},
        ]
    assert len(await orders_statements_during(fed, before)) == 1


async def test_a_thousand_order_representations_are_read_with_one_sql_statement(
    fed: Stack,
) -> None:
    await insert_orders([(1 + i % 200, 1 + i % 7) for i in range(1000)])
    representations = [{"__typename": "Order", "id": str(i)} for i in range(1, 1001)]
    before = len(await fed.statements())

    body = await fed.orders(
        "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Order { id userId } } }",
        variables={"r": representations},
        headers=ADMIN,
    )

    entities = body["data"]["_entities"]
    assert [e["id"] for e in entities] == [str(i) for i in range(1, 1001)]
    assert [e["userId"] for e in entities] == [str(1 + i % 200) for i in range(1000)]
    assert len(await orders_statements_during(fed, before)) == 1


async def test_users_and_products_orders_in_one_query_read_one_statement_per_type(
    fed: Stack,
) -> None:
    await insert_orders([(user, product) for user in (1, 2, 3) for product in (1, 2, 3)])
    before = len(await fed.statements())

    body = await fed.gateway(
        "{ users(first: 3) { id orders { productId } }"
        "  products(first: 3) { id orders { userId } } }",
        headers=ADMIN,
    )

    assert body["data"]["users"] == [
        {"id": str(u), "orders": [{"productId": "3"}, {"productId": "2"}, {"productId": "1"}]}
        for u in (1, 2, 3)
    ]
    assert body["data"]["products"] == [
        {"id": str(p), "orders": [{"userId": "3"}, {"userId": "2"}, {"userId": "1"}]}
        for p in (1, 2, 3)
    ]
    # One for the users' orders, one for the products' orders, whatever the plan's shape.
    assert len(await orders_statements_during(fed, before)) == 2

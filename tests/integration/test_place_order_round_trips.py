"""placeOrder on PostgreSQL is one statement in one round trip, and keeps every rule doing it.

Statements are counted by `tests/integration/statements.py` (what reached PostgreSQL, BEGIN and
COMMIT included).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.errors import IdempotencyKeyReused
from subgraph.persistence.unit_of_work import UnitOfWork
from tests.integration.statements import StatementLog, counting_engine
from tests.support import rows

ALICE = Principal(user_id="alice")


class Counted(StatementLog):
    async def place(self, **arguments: Any) -> Any:
        values: dict[str, Any] = {"user_id": "alice", "product_id": "p1", "quantity": 1}
        values.update(arguments)
        return await service.place_order(uow=UnitOfWork(self.engine), principal=ALICE, **values)


@pytest.fixture
async def counted(db: str) -> AsyncIterator[Counted]:
    async with counting_engine(db, Counted) as counting:
        yield counting


@pytest.mark.parametrize("key", [None, "k-1"], ids=["without-key", "with-key"])
async def test_a_placement_is_one_round_trip(counted: Counted, key: str | None) -> None:
    await counted.place(idempotency_key="warm-up")  # asyncpg prepares the statement once
    counted.statements.clear()

    order = await counted.place(idempotency_key=key, quantity=3)

    assert order.id is not None and order.quantity == 3
    assert len(counted.statements) == 1, counted.statements


async def test_a_retry_with_its_key_is_answered_by_the_same_one_statement(
    counted: Counted,
) -> None:
    first = await counted.place(idempotency_key="k-1", quantity=2)
    counted.statements.clear()

    again = await counted.place(idempotency_key="k-1", quantity=2)

    assert again.id == first.id
    assert len(counted.statements) == 1, counted.statements


async def test_one_statement_stores_the_order_its_history_and_its_event(
    counted: Counted, db: str
) -> None:
    order = await counted.place(user_id="alice", product_id='p"9\\', quantity=4)

    history = await rows(db, "SELECT order_id, status, reason FROM order_status_changes")
    outbox = await rows(db, "SELECT order_id, event_type, payload FROM order_outbox")
    assert [tuple(r) for r in history] == [(order.id, "PENDING", "placed")]
    assert [(r["order_id"], r["event_type"]) for r in outbox] == [(order.id, "order.placed")]
    payload = json.loads(outbox[0]["payload"])
    assert payload["order"] == {
        "id": str(order.id),
        "user_id": "alice",
        "product_id": 'p"9\\',
        "quantity": 4,
        "status": "PENDING",
        "created_at": payload["order"]["created_at"],
        "updated_at": payload["order"]["updated_at"],
    }
    assert payload["event_type"] == "order.placed" and payload["version"] == 1


async def test_racing_retries_with_one_key_get_one_order_and_one_event(
    counted: Counted, db: str
) -> None:
    placed = await asyncio.gather(*(counted.place(idempotency_key="race") for _ in range(8)))
    assert len({o.id for o in placed}) == 1
    assert len(await rows(db, "SELECT id FROM orders")) == 1
    assert len(await rows(db, "SELECT id FROM order_outbox")) == 1


async def test_a_reused_key_is_refused_by_the_one_statement_and_nothing_is_written(
    counted: Counted, db: str
) -> None:
    await counted.place(idempotency_key="k-1", quantity=2)
    with pytest.raises(IdempotencyKeyReused):
        await counted.place(idempotency_key="k-1", quantity=5)
    assert len(await rows(db, "SELECT id FROM orders")) == 1
    assert len(await rows(db, "SELECT id FROM order_status_changes")) == 1
    assert len(await rows(db, "SELECT id FROM order_outbox")) == 1

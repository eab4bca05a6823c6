"""Concurrent requests share the statement that reads orders by id, and nothing else."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from subgraph import service
from subgraph.api.loaders import Loaders
from subgraph.domain.access import Principal
from subgraph.domain.order import Order
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.shared_reads import SharedOrderReads
from subgraph.persistence.unit_of_work import UnitOfWork

pytestmark = pytest.mark.usefixtures("pool")

ADMIN = Principal(user_id="admin", is_admin=True)
ALICE = Principal(user_id="alice", is_admin=False)
BOB = Principal(user_id="bob", is_admin=False)


@pytest.fixture
def order_selects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SELECTs on `orders` that reach asyncpg during the test (they still run)."""
    seen: list[str] = []
    original = asyncpg.connection.Connection._execute

    async def counting(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if query.lstrip().upper().startswith("SELECT") and "FROM orders" in query:
            seen.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_execute", counting)
    yield seen


async def place(user: str) -> int:
    order = await service.place_order(
        uow=UnitOfWork(DB), principal=ADMIN, user_id=user, product_id="9", quantity=1
    )
    assert order.id is not None
    return order.id


async def load(loaders: Loaders, order_id: int) -> Order | None:
    return await loaders.order_by_id.load(str(order_id))


def loaders_for(principal: Principal, shared: SharedOrderReads) -> Loaders:
    async def who() -> Principal:
        return principal

    return Loaders(reads=shared, principal=who)


async def test_lookups_of_concurrent_requests_are_one_statement(order_selects: list[str]) -> None:
    ids = [await place("alice") for _ in range(6)]
    shared = SharedOrderReads(DB)
    order_selects.clear()

    # Six requests, each with its own loaders, asking at the same time; two ask for the same.
    asked = [ids[0], ids[1], ids[2], ids[3], ids[4], ids[4]]
    requests = [loaders_for(ADMIN, shared) for _ in asked]
    found = await asyncio.gather(
        *(r.order_by_id.load(str(i)) for r, i in zip(requests, asked, strict=True))
    )

    assert [o.id if o else None for o in found] == asked
    assert len(order_selects) == 1


async def test_each_request_still_sees_only_its_callers_orders(order_selects: list[str]) -> None:
    alices, bobs = await place("alice"), await place("bob")
    shared = SharedOrderReads(DB)
    order_selects.clear()

    alice, bob = loaders_for(ALICE, shared), loaders_for(BOB, shared)
    # Both ask for both orders in the same step: one statement reads both rows for both.
    found = await asyncio.gather(
        alice.order_by_id.load(str(alices)),
        alice.order_by_id.load(str(bobs)),
        bob.order_by_id.load(str(alices)),
        bob.order_by_id.load(str(bobs)),
    )

    assert [o.user_id if o else None for o in found] == ["alice", None, None, "bob"]
    assert len(order_selects) == 1


async def test_a_request_in_a_transaction_reads_its_own_writes() -> None:
    shared = SharedOrderReads(DB)
    uow = UnitOfWork(DB)

    async def admin() -> Principal:
        return ADMIN

    loaders = Loaders(reads=shared, principal=admin)
    now = datetime.now(UTC)
    async with uow:
        stored = await uow.orders.add(
            Order.place(user_id="carol", product_id="9", quantity=2, now=now),
            placed_by="admin",
            idempotency_key=None,
        )
        assert stored is not None and stored.id is not None
        # Not committed yet: only this transaction's connection can see it.
        found = await loaders.order_by_id.load(str(stored.id))
        assert found is not None
        assert (found.id, found.user_id, found.quantity) == (stored.id, "carol", 2)
    # Committed now, and readable by anyone's shared statement.
    later = await loaders_for(ADMIN, shared).order_by_id.load(str(stored.id))
    assert later is not None and later.id == stored.id


async def test_no_request_sees_another_requests_uncommitted_order() -> None:
    """A batch runs in the context of the request that opened it: were that request inside a
    transaction, the shared statement would run on its connection and show the others what
    it has not committed."""
    shared = SharedOrderReads(DB)
    uow = UnitOfWork(DB)

    async def admin() -> Principal:
        return ADMIN

    writer = Loaders(reads=shared, principal=admin)
    reader = loaders_for(ADMIN, shared)
    async with uow:
        stored = await uow.orders.add(
            Order.place(user_id="dave", product_id="9", quantity=1, now=datetime.now(UTC)),
            placed_by="admin",
            idempotency_key=None,
        )
        assert stored is not None and stored.id is not None
        # The writer asks first, so a batch it opened would be the one the reader joins. The
        # reader is another request: its task does not share the writer's transaction.
        loop = asyncio.get_running_loop()
        writing = loop.create_task(load(writer, stored.id))
        reading = loop.create_task(load(reader, stored.id), context=contextvars.Context())
        mine = await writing
        theirs = await reading
        assert mine is not None and mine.id == stored.id
        assert theirs is None


async def test_a_failed_statement_fails_every_request_that_shared_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [await place("alice") for _ in range(2)]
    shared = SharedOrderReads(DB)

    async def broken(self: Any, order_ids: Any) -> Any:
        raise ConnectionError("database went away")

    monkeypatch.setattr("subgraph.persistence.reads.OrderReads.get_many", broken)
    first, second = loaders_for(ADMIN, shared), loaders_for(ADMIN, shared)
    outcomes = await asyncio.gather(
        first.order_by_id.load(str(ids[0])),
        second.order_by_id.load(str(ids[1])),
        return_exceptions=True,
    )
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]


async def test_pages_of_concurrent_requests_are_one_statement(order_selects: list[str]) -> None:
    alices = [await place("alice") for _ in range(3)]
    bobs = [await place("bob") for _ in range(2)]
    shared = SharedOrderReads(DB)
    order_selects.clear()

    async def page(principal: Principal, **filters: Any) -> list[int]:
        orders = await service.list_orders(orders=shared, principal=principal, **filters)
        return [o.id for o in orders if o.id is not None]

    pages = await asyncio.gather(
        page(ALICE, limit=20),
        page(BOB, limit=20),
        page(ALICE, limit=2, offset=1),
        page(BOB, user_id="alice", limit=20),  # not his: nothing, and no statement for it
        page(ADMIN, user_id="bob", limit=20),
    )

    newest_first = sorted(alices, reverse=True), sorted(bobs, reverse=True)
    assert pages == [newest_first[0], newest_first[1], newest_first[0][1:3], [], newest_first[1]]
    # Pages of the same size and offset share a statement: (limit 20) and (limit 2, offset 1).
    assert len(order_selects) == 2


async def test_a_large_batch_stays_one_statement_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shared statements take at most MAX_BATCH ids: a large request among others would be
    split in two. A batch above SHARED_MAX_KEYS is read on its own, in one statement."""
    ids = [await place("erin") for _ in range(3)]
    id_arrays: list[list[int]] = []
    original = asyncpg.connection.Connection._execute

    async def recording(self: Any, query: str, args: Any, *rest: Any, **kwargs: Any) -> Any:
        if query.lstrip().upper().startswith("SELECT") and "FROM orders" in query:
            id_arrays.append(list(args[0]))
        return await original(self, query, args, *rest, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "_execute", recording)
    shared = SharedOrderReads(DB)
    # Six requests of 400 ids each (the three real ones and 397 that name no order).
    wanted = [[*ids, *range(10_000 + 400 * n, 10_397 + 400 * n)] for n in range(6)]
    requests = [loaders_for(ADMIN, shared) for _ in wanted]
    found = await asyncio.gather(
        *(
            r.order_by_id.load_many([str(i) for i in w])
            for r, w in zip(requests, wanted, strict=True)
        )
    )

    assert all([o.id for o in f if o] == ids for f in found)
    for request_ids in wanted:
        assert any(set(request_ids) <= set(statement) for statement in id_arrays)
    assert len(id_arrays) == len(wanted)


async def test_users_orders_of_concurrent_requests_are_one_statement(
    order_selects: list[str],
) -> None:
    """`User.orders`, as the router asks for it: a few users per request, many requests."""
    alices = sorted([await place("alice") for _ in range(2)], reverse=True)
    bobs = sorted([await place("bob") for _ in range(2)], reverse=True)
    shared = SharedOrderReads(DB)
    order_selects.clear()

    async def orders_of(principal: Principal, user: str) -> list[int]:
        page = await loaders_for(principal, shared).orders_of_user.load((user, None, 5, 0))
        return [o.id for o in page if o.id is not None]

    pages = await asyncio.gather(
        orders_of(ALICE, "alice"),
        orders_of(BOB, "bob"),
        orders_of(BOB, "alice"),  # not his: nothing
        orders_of(ADMIN, "alice"),
    )

    assert pages == [alices, bobs, [], alices]
    assert len(order_selects) == 1

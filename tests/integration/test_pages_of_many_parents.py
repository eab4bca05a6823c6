"""`User.orders` / `Product.orders` for many parents at once: each parent gets its own page."""

from __future__ import annotations

import pytest

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.order import OrderStatus
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.shared_reads import SharedOrderReads
from subgraph.persistence.unit_of_work import UnitOfWork
from subgraph.ports import Parent

ADMIN = Principal(user_id="admin", is_admin=True)

pytestmark = pytest.mark.usefixtures("pool")


async def place(user: str, product: str) -> int:
    order = await service.place_order(
        uow=UnitOfWork(DB), principal=ADMIN, user_id=user, product_id=product, quantity=1
    )
    assert order.id is not None
    return order.id


async def pages(
    principal: Principal,
    column: str,
    parents: list[str],
    *,
    limit: int,
    offset: int = 0,
    status: OrderStatus | None = None,
) -> dict[str, list[int]]:
    found = await service.list_orders_of_parents(
        orders=SharedOrderReads(DB),
        principal=principal,
        parent=Parent.USER if column == "user_id" else Parent.PRODUCT,
        parent_ids=parents,
        status=status,
        limit=limit,
        offset=offset,
    )
    return {parent: [o.id for o in orders] for parent, orders in found.items() if orders}  # type: ignore[misc]


async def test_each_user_gets_their_own_newest_first_page() -> None:
    placed: dict[str, list[int]] = {"u1": [], "u2": [], "u3": []}
    for round_ in range(5):
        for user in ("u1", "u2", "u3"):
            if user == "u3" and round_ >= 2:
                continue  # u3 has only two orders
            placed[user].append(await place(user, f"p{round_ % 2}"))
    newest = {user: list(reversed(ids)) for user, ids in placed.items()}

    assert await pages(ADMIN, "user_id", ["u1", "u2", "u3", "nobody"], limit=2, offset=1) == {
        "u1": newest["u1"][1:3],
        "u2": newest["u2"][1:3],
        "u3": newest["u3"][1:2],
    }
    assert await pages(ADMIN, "user_id", ["u3"], limit=10, offset=2) == {}


async def test_product_pages_respect_the_status_filter_and_a_non_admin_sees_only_theirs() -> None:
    mine = [await place("7", "p1") for _ in range(3)]
    theirs = [await place("8", "p1") for _ in range(2)]
    await service.cancel_order(uow=UnitOfWork(DB), principal=ADMIN, order_id=mine[0])

    assert await pages(ADMIN, "product_id", ["p1"], limit=10) == {
        "p1": list(reversed(mine + theirs))
    }
    cancelled = await pages(ADMIN, "product_id", ["p1"], limit=10, status=OrderStatus.CANCELLED)
    assert cancelled == {"p1": [mine[0]]}
    assert await pages(Principal(user_id="7"), "product_id", ["p1"], limit=2) == {
        "p1": [mine[2], mine[1]]
    }
    assert await pages(Principal(user_id="7"), "user_id", ["7", "8"], limit=5) == {
        "7": list(reversed(mine))
    }

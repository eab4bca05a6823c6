"""The use cases: what a caller can do with orders. Adapters call these and nothing below them.

Writes run in one unit of work each, so a change, its history and its outbox events commit
together. Every function takes the caller's principal and applies the access rules itself.
Storage is reached only through the protocols of `subgraph.ports`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from subgraph.domain.access import Principal
from subgraph.domain.errors import (
    AccessDenied,
    BadInput,
    ConcurrentModification,
    IdempotencyKeyReused,
    OrderNotFound,
)
from subgraph.domain.order import (
    Order,
    OrderStatus,
    StatusChange,
    check_idempotency_key,
    placement_request,
)
from subgraph.ports import KeyedPlacement, OrderFilter, OrderReader, Parent, UnitOfWork

MAX_PAGE_SIZE = 1000
# orders.id is a bigserial (int8): a larger id names no order, and must not reach the
# database, which refuses it as an argument (the fuzz in tests/security found this).
MAX_ORDER_ID = 2**63 - 1
# Reads and decisions of one update before it gives up with ConcurrentModification: each lost
# race means another writer's change committed, so this many in a row is a pile-up on one
# order that the caller had better see than wait out.
MAX_CHANGE_ATTEMPTS = 5

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return str(uuid.uuid4())


def parse_order_id(raw: str | int) -> int | None:
    """The numeric id behind a GraphQL ID, or None when it cannot name any order."""
    text = str(raw).strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ORDER_ID else None


def check_page(limit: int, offset: int) -> None:
    if not 0 <= limit <= MAX_PAGE_SIZE:
        raise BadInput(f"limit must be between 0 and {MAX_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise BadInput(f"offset must not be negative, got {offset}")


async def place_order(
    *,
    uow: UnitOfWork,
    principal: Principal,
    user_id: str,
    product_id: str,
    quantity: int,
    idempotency_key: str | None = None,
    clock: Clock = utc_now,
) -> Order:
    """Place a PENDING order; a retry with the caller's idempotency key returns the first order.

    The same key with other arguments is IdempotencyKeyReused, and places nothing.
    """
    principal.check_can_place_for(user_id.strip())
    now = clock()
    order = Order.place(user_id=user_id, product_id=product_id, quantity=quantity, now=now)
    # The request's digest is stored and compared only for a keyed placement.
    request = None
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
        request = placement_request(order)
    placed = await uow.place(
        order,
        placed_by=principal.user_id,
        idempotency_key=idempotency_key,
        request=request,
        event_id=new_event_id(),
        now=now,
    )
    if isinstance(placed, KeyedPlacement):
        assert idempotency_key is not None and request is not None
        return _answered(placed, request, idempotency_key)
    return placed


def _answered(earlier: KeyedPlacement, request: str, key: str) -> Order:
    """The order a key placed, if this request asks for the same (or predates the check)."""
    if earlier.request is not None and earlier.request != request:
        raise IdempotencyKeyReused(key)
    return earlier.order


async def update_order(
    *,
    uow: UnitOfWork,
    principal: Principal,
    order_id: str | int,
    status: str | None = None,
    quantity: int | None = None,
    clock: Clock = utc_now,
) -> Order:
    """Move an order's status and/or change its quantity, as the rules and the role allow.

    Read, decide, then store only if nobody changed the order meanwhile (its version): two
    round trips on PostgreSQL, no lock held while deciding. A change that lost that race is
    decided again on the order as it now is, as if it had arrived a moment later; so a
    concurrent update is never lost, and the rules always judge the status they change.
    """
    target = OrderStatus.parse(status) if status is not None else None
    for _ in range(MAX_CHANGE_ATTEMPTS):
        order = await _load(uow, order_id)
        principal.check_can_update(order.user_id, status=target, quantity=quantity)
        reason = _reason(principal, target) if target is not None else None
        order.update(
            event_id=new_event_id(), now=clock(), status=target, quantity=quantity, reason=reason
        )
        if await uow.change(order):
            return order
    raise ConcurrentModification(order_id)


async def cancel_order(
    *, uow: UnitOfWork, principal: Principal, order_id: str | int, clock: Clock = utc_now
) -> Order:
    """Cancel an order that is not yet shipped or final."""
    return await update_order(
        uow=uow,
        principal=principal,
        order_id=order_id,
        status=OrderStatus.CANCELLED.value,
        clock=clock,
    )


async def delete_order(
    *, uow: UnitOfWork, principal: Principal, order_id: str | int, clock: Clock = utc_now
) -> Order:
    """Delete an order and its history (admins only); returns the order as it was."""
    principal.check_can_delete()
    async with uow:
        order = await _load(uow, order_id)
        order.record_deleted(event_id=new_event_id(), now=clock())
        await uow.orders.delete(order)
    return order


async def get_orders_by_ids(
    *, orders: OrderReader, principal: Principal, order_ids: Sequence[str | int]
) -> list[Order | None]:
    """Orders in the order asked for, None where missing or not visible to the caller."""
    parsed = [parse_order_id(raw) for raw in order_ids]
    found = await orders.get_many([i for i in parsed if i is not None])
    visible = {i: o for i, o in found.items() if principal.can_view(o.user_id)}
    return [visible.get(i) if i is not None else None for i in parsed]


async def list_orders(
    *,
    orders: OrderReader,
    principal: Principal,
    status: OrderStatus | None = None,
    user_id: str | None = None,
    product_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Order]:
    """A page of orders, newest first; a non-admin only ever gets their own."""
    check_page(limit, offset)
    if not principal.is_admin:
        if user_id is not None and not principal.owns(user_id):
            return []
        user_id = principal.user_id
    where = OrderFilter(status=status, user_id=user_id, product_id=product_id)
    return await orders.list(where, limit=limit, offset=offset)


async def list_orders_of_parents(
    *,
    orders: OrderReader,
    principal: Principal,
    parent: Parent,
    parent_ids: Sequence[str],
    status: OrderStatus | None,
    limit: int,
    offset: int,
) -> dict[str, list[Order]]:
    """`User.orders` or `Product.orders` for a batch of parents; a non-admin sees only their
    own orders (of their own user, or among a product's)."""
    check_page(limit, offset)
    ids = list(dict.fromkeys(parent_ids))
    where = OrderFilter(status=status)
    if not principal.is_admin:
        if parent is Parent.USER:
            # Only the caller's own user is left, whose orders need no further filter.
            ids = [i for i in ids if principal.owns(i)]
        else:
            where = OrderFilter(status=status, user_id=principal.user_id)
    if not ids:
        return {}
    return await orders.pages_of(parent, ids, where, limit=limit, offset=offset)


async def histories(
    *, orders: OrderReader, order_ids: Sequence[int]
) -> dict[int, list[StatusChange]]:
    """Status histories of orders the caller has already been allowed to see."""
    return await orders.history(order_ids)


class InventoryOutcome(enum.Enum):
    """What an inventory result did to its order."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this event id was processed before
    NOT_PENDING = "not_pending"  # the order moved on (cancelled, say); nothing to do
    UNKNOWN_ORDER = "unknown_order"  # no such order (deleted, or never ours)


# The products service acts through the consumer, not through a token: an admin-level principal.
INVENTORY_PRINCIPAL = Principal(user_id="system:inventory", is_admin=True)


async def apply_inventory_result(
    *,
    uow: UnitOfWork,
    principal: Principal,
    event_id: str,
    order_id: str | int,
    reserved: bool,
    reason: str | None = None,
    clock: Clock = utc_now,
) -> InventoryOutcome:
    """Confirm (stock reserved) or reject (stock refused) a PENDING order, once per event id.

    The event id is recorded in the same transaction as the change, so a redelivered result
    changes nothing; a result for an order that is no longer PENDING changes nothing either.
    """
    target = OrderStatus.CONFIRMED if reserved else OrderStatus.REJECTED
    now = clock()
    async with uow:
        if not await uow.inbox.record(event_id, now=now):
            return InventoryOutcome.DUPLICATE
        try:
            order = await _load(uow, order_id)
        except OrderNotFound:
            return InventoryOutcome.UNKNOWN_ORDER
        if order.status is not OrderStatus.PENDING:
            return InventoryOutcome.NOT_PENDING
        principal.check_can_update(order.user_id, status=target, quantity=None)
        why = "inventory reserved" if reserved else f"inventory rejected: {reason or 'no reason'}"
        order.update(event_id=new_event_id(), now=now, status=target, reason=why)
        await uow.orders.save(order)
    return InventoryOutcome.APPLIED


async def _load(uow: UnitOfWork, raw_id: str | int) -> Order:
    order_id = parse_order_id(raw_id)
    order = await uow.orders.get(order_id) if order_id is not None else None
    if order is None:
        raise OrderNotFound(raw_id)
    return order


def _reason(principal: Principal, status: OrderStatus) -> str:
    role = "admin" if principal.is_admin else "user"
    verb = "cancelled" if status is OrderStatus.CANCELLED else f"set to {status.value}"
    return f"{verb} by {role} {principal.user_id}"


__all__ = [
    "INVENTORY_PRINCIPAL",
    "AccessDenied",
    "BadInput",
    "InventoryOutcome",
    "apply_inventory_result",
    "cancel_order",
    "delete_order",
    "get_orders_by_ids",
    "histories",
    "list_orders",
    "list_orders_of_parents",
    "place_order",
    "update_order",
]

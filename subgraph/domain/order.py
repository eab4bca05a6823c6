"""The Order aggregate: status moves, quantity rules and the events each change records."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

from subgraph.domain.errors import (
    ForbiddenTransition,
    InvalidQuantity,
    InvalidReference,
    InvalidStatus,
    NothingToUpdate,
    QuantityLocked,
)
from subgraph.domain.events import (
    OrderDeleted,
    OrderEvent,
    OrderPlaced,
    OrderSnapshot,
    OrderUpdated,
)

MIN_QUANTITY = 1
MAX_QUANTITY = 10_000
MAX_REFERENCE_LENGTH = 64
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class OrderStatus(enum.Enum):
    """Where an order is in its life."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"

    @classmethod
    def parse(cls, text: str) -> OrderStatus:
        """Read a status in any letter case: "Shipped", "SHIPPED" and "shipped" are the same."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidStatus(f"Unknown status {text!r}; allowed values: {allowed}") from None


# The whole lifecycle in one table; a status missing as a key is final.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.SHIPPED, OrderStatus.CANCELLED}
    ),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
}

FINAL_STATUSES = frozenset(s for s in OrderStatus if s not in TRANSITIONS)


def check_quantity(quantity: int) -> int:
    """Return the quantity if it is within the allowed range, else raise InvalidQuantity."""
    if isinstance(quantity, bool) or not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(
            f"Quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}, got {quantity}"
        )
    return quantity


def check_reference(kind: str, value: str) -> str:
    """Return a user or product id if it is usable as a key, else raise InvalidReference."""
    value = value.strip()
    if not value or len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidReference(f"{kind} must be 1 to {MAX_REFERENCE_LENGTH} characters")
    return value


def check_idempotency_key(key: str) -> str:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidReference(
            f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
        )
    return key


def placement_request(order: Order) -> str:
    """What placing `order` asked for, as a short digest: a retry with the same idempotency key
    must ask for the same (the order's quantity may change later; this does not)."""
    asked = "\x1f".join((order.user_id, order.product_id, str(order.quantity)))
    return hashlib.sha256(asked.encode()).hexdigest()[:32]


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    """Raise ForbiddenTransition unless the table allows moving from current to target."""
    if current is target:
        raise ForbiddenTransition(f"Order is already {current.value}")
    if target not in TRANSITIONS.get(current, frozenset()):
        if current in FINAL_STATUSES:
            raise ForbiddenTransition(
                f"Order is {current.value}, a final status; it cannot become {target.value}"
            )
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise ForbiddenTransition(
            f"Cannot move an order from {current.value} to {target.value}; allowed: {allowed}"
        )


@dataclass(frozen=True)
class StatusChange:
    """One entry of an order's history."""

    status: OrderStatus
    at: datetime
    reason: str | None = None


@dataclass
class Order:
    """An order of one product by one user; records an event for every change it accepts.

    `id` is None until the order is stored. `version` counts stored changes so that two
    writers starting from the same state cannot both succeed.
    """

    user_id: str
    product_id: str
    quantity: int
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    id: int | None = None
    version: int = 1
    new_history: list[StatusChange] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)

    @classmethod
    def place(cls, *, user_id: str, product_id: str, quantity: int, now: datetime) -> Order:
        """A new PENDING order; its OrderPlaced event is recorded once it has an id."""
        order = cls(
            user_id=check_reference("userId", user_id),
            product_id=check_reference("productId", product_id),
            quantity=check_quantity(quantity),
            status=OrderStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        order.new_history.append(StatusChange(OrderStatus.PENDING, now, "placed"))
        return order

    def record_placed(self, *, event_id: str, now: datetime) -> None:
        """Record OrderPlaced; called once storage has given the order its id."""
        self.events.append(OrderPlaced(event_id=event_id, occurred_at=now, order=self.snapshot()))

    def update(
        self,
        *,
        event_id: str,
        now: datetime,
        status: OrderStatus | None = None,
        quantity: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Apply a status move and/or a quantity change atomically, recording one OrderUpdated."""
        if status is None and quantity is None:
            raise NothingToUpdate("Nothing to update: give a status or a quantity")
        if quantity is not None:
            check_quantity(quantity)
            if self.status is not OrderStatus.PENDING:
                raise QuantityLocked(
                    "Quantity can change only while the order is PENDING; "
                    f"it is {self.status.value}"
                )
        if status is not None:
            check_transition(self.status, status)
        previous = self.snapshot()
        if quantity is not None:
            self.quantity = quantity
        if status is not None:
            self.status = status
            self.new_history.append(StatusChange(status, now, reason))
        self.updated_at = now
        self.events.append(
            OrderUpdated(
                event_id=event_id,
                occurred_at=now,
                order=self.snapshot(),
                previous_status=previous.status,
                previous_quantity=previous.quantity,
            )
        )

    def record_deleted(self, *, event_id: str, now: datetime) -> None:
        """Record OrderDeleted with the order as it was."""
        self.events.append(OrderDeleted(event_id=event_id, occurred_at=now, order=self.snapshot()))

    def snapshot(self) -> OrderSnapshot:
        """The order's fields as events carry them."""
        if self.id is None:
            raise ValueError("an order has no snapshot before it is stored")
        return OrderSnapshot(
            id=self.id,
            user_id=self.user_id,
            product_id=self.product_id,
            quantity=self.quantity,
            status=self.status.value,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def stored(self, *, id: int) -> Order:
        """The same order once storage gave it an id."""
        return replace(self, id=id)

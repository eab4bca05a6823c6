"""What happened to an order, as immutable, versioned data: the `orders` exchange payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

SCHEMA_VERSION = 1


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class OrderSnapshot:
    """An order's fields at the moment of an event."""

    id: int
    user_id: str
    product_id: str
    quantity: int
    status: str
    created_at: datetime
    updated_at: datetime

    def as_payload(self) -> dict[str, Any]:
        """JSON-ready fields, ids as strings like the GraphQL API shows them."""
        return {
            "id": str(self.id),
            "user_id": self.user_id,
            "product_id": self.product_id,
            "quantity": self.quantity,
            "status": self.status,
            "created_at": _rfc3339(self.created_at),
            "updated_at": _rfc3339(self.updated_at),
        }


@dataclass(frozen=True)
class OrderEvent:
    """The envelope every order event shares."""

    event_type: ClassVar[str]
    event_id: str
    occurred_at: datetime
    order: OrderSnapshot

    @property
    def order_id(self) -> int:
        return self.order.id

    def as_payload(self) -> dict[str, Any]:
        """The message body published for this event."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": _rfc3339(self.occurred_at),
            "version": SCHEMA_VERSION,
            "order": self.order.as_payload(),
        }


@dataclass(frozen=True)
class OrderPlaced(OrderEvent):
    """An order was created; the products service reserves stock."""

    event_type: ClassVar[str] = "order.placed"


@dataclass(frozen=True)
class OrderUpdated(OrderEvent):
    """An order's status or quantity changed (cancellation included)."""

    event_type: ClassVar[str] = "order.updated"
    previous_status: str
    previous_quantity: int

    def as_payload(self) -> dict[str, Any]:
        return {
            **super().as_payload(),
            "previous_status": self.previous_status,
            "previous_quantity": self.previous_quantity,
        }


@dataclass(frozen=True)
class OrderDeleted(OrderEvent):
    """An order was deleted; `order` is what it was."""

    event_type: ClassVar[str] = "order.deleted"

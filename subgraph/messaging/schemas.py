"""The message payloads of the event contract, as pydantic models.

They give the AsyncAPI document its schemas and validate what the inventory consumer receives.
The published bodies are the outbox rows' JSON (`domain.events.as_payload()`); a test checks
that every event the domain records validates against these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

OrderStatusName = Literal["PENDING", "CONFIRMED", "REJECTED", "SHIPPED", "DELIVERED", "CANCELLED"]
OrderId = Annotated[str, Field(pattern=r"^[0-9]{1,19}$", description="The order's id (digits)")]


class OrderState(BaseModel):
    """An order's fields at the moment of the event."""

    id: OrderId
    user_id: str = Field(description="The user who owns the order")
    product_id: str = Field(description="The ordered product")
    quantity: int = Field(ge=1, description="Units ordered")
    status: OrderStatusName
    created_at: datetime = Field(description="RFC 3339, UTC")
    updated_at: datetime = Field(description="RFC 3339, UTC")


class OrderEventEnvelope(BaseModel):
    """Fields every order event carries."""

    event_id: UUID = Field(description="Unique per event; also the AMQP message_id")
    occurred_at: datetime = Field(description="When the change happened; RFC 3339, UTC")
    version: int = Field(ge=1, description="Schema version of this payload; starts at 1")
    order: OrderState


class OrderPlaced(OrderEventEnvelope):
    """An order was created (PENDING); the products service reserves stock."""

    event_type: Literal["order.placed"]


class OrderUpdated(OrderEventEnvelope):
    """An order's status or quantity changed, cancellation included."""

    event_type: Literal["order.updated"]
    previous_status: OrderStatusName
    previous_quantity: int = Field(ge=1)


class OrderDeleted(OrderEventEnvelope):
    """An order was deleted; `order` is what it was."""

    event_type: Literal["order.deleted"]


EVENT_MODELS: dict[str, type[OrderEventEnvelope]] = {
    "order.placed": OrderPlaced,
    "order.updated": OrderUpdated,
    "order.deleted": OrderDeleted,
}


class InventoryResult(BaseModel):
    """Fields both inventory results carry; unknown extra fields are ignored."""

    # Producers may send the order id as a JSON number or string.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    event_id: str = Field(
        min_length=1, max_length=100, description="Unique per result; de-duplication key"
    )
    order_id: OrderId
    occurred_at: datetime = Field(description="RFC 3339")


class InventoryReserved(InventoryResult):
    """The products service reserved the order's stock: PENDING -> CONFIRMED."""


class InventoryRejected(InventoryResult):
    """The products service could not reserve the stock: PENDING -> REJECTED."""

    reason: str = Field(min_length=1, max_length=500, description="Why, e.g. 'out of stock'")

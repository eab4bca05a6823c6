"""The message payloads of the event contract, as pydantic models.

Named `...Message` so they are not mistaken for the domain events; each keeps its contract
name as its schema title, which is what the AsyncAPI document calls it. They give the AsyncAPI
document its schemas and validate what the inventory consumer receives.
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


# No domain name clashes with this one, and a nested model's schema is named after its class
# (not its title): it keeps the contract's name. Docstrings here are schema descriptions.
class OrderState(BaseModel):
    """An order's fields at the moment of the event."""

    id: OrderId
    user_id: str = Field(description="The user who owns the order")
    product_id: str = Field(description="The ordered product")
    quantity: int = Field(ge=1, description="Units ordered")
    status: OrderStatusName
    created_at: datetime = Field(description="RFC 3339, UTC")
    updated_at: datetime = Field(description="RFC 3339, UTC")


class OrderEventMessage(BaseModel):
    """Fields every order event carries."""

    model_config = ConfigDict(title="OrderEventEnvelope")

    event_id: UUID = Field(description="Unique per event; also the AMQP message_id")
    occurred_at: datetime = Field(description="When the change happened; RFC 3339, UTC")
    version: int = Field(ge=1, description="Schema version of this payload; starts at 1")
    order: OrderState


class OrderPlacedMessage(OrderEventMessage):
    """An order was created (PENDING); the products service reserves stock."""

    model_config = ConfigDict(title="OrderPlaced")

    event_type: Literal["order.placed"]


class OrderUpdatedMessage(OrderEventMessage):
    """An order's status or quantity changed, cancellation included."""

    model_config = ConfigDict(title="OrderUpdated")

    event_type: Literal["order.updated"]
    previous_status: OrderStatusName
    previous_quantity: int = Field(ge=1)


class OrderDeletedMessage(OrderEventMessage):
    """An order was deleted; `order` is what it was."""

    model_config = ConfigDict(title="OrderDeleted")

    event_type: Literal["order.deleted"]


EVENT_MODELS: dict[str, type[OrderEventMessage]] = {
    "order.placed": OrderPlacedMessage,
    "order.updated": OrderUpdatedMessage,
    "order.deleted": OrderDeletedMessage,
}


class InventoryResultMessage(BaseModel):
    """Fields both inventory results carry; unknown extra fields are ignored."""

    # Producers may send the order id as a JSON number or string.
    model_config = ConfigDict(title="InventoryResult", coerce_numbers_to_str=True)

    event_id: str = Field(
        min_length=1, max_length=100, description="Unique per result; de-duplication key"
    )
    order_id: OrderId
    occurred_at: datetime = Field(description="RFC 3339")


class InventoryReservedMessage(InventoryResultMessage):
    """The products service reserved the order's stock: PENDING -> CONFIRMED."""

    model_config = ConfigDict(title="InventoryReserved")


class InventoryRejectedMessage(InventoryResultMessage):
    """The products service could not reserve the stock: PENDING -> REJECTED."""

    model_config = ConfigDict(title="InventoryRejected")

    reason: str = Field(min_length=1, max_length=500, description="Why, e.g. 'out of stock'")

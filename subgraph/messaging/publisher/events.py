"""One documented FastStream publisher per order event type, and publishing a stored event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aio_pika.exceptions import DeliveryError, PublishError
from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from subgraph.messaging.broker import ORDERS_EXCHANGE
from subgraph.messaging.schemas import EVENT_MODELS
from subgraph.persistence.outbox import OutboxMessage
from subgraph.telemetry import tracing

CONTENT_TYPE = "application/json"

DESCRIPTIONS = {
    "order.placed": "An order was created (PENDING); the products service reserves stock.",
    "order.updated": "An order's status or quantity changed, cancellation included.",
    "order.deleted": "An order was deleted; `order` is what it was.",
}


class PublishFailed(Exception):
    """The broker did not confirm the message (returned, nacked, timed out or unreachable)."""


class Unroutable(PublishFailed):
    """The broker returned the message: no queue is bound for its routing key."""


class Nacked(PublishFailed):
    """The broker refused the message (a negative confirm)."""


class EventPublisher:
    """Publishes outbox rows to the `orders` exchange, one publisher per routing key.

    Every message is persistent, mandatory (an unroutable message is returned and counts as a
    failure) and waits for the broker's confirm, bounded by the publish timeout. With `direct`
    (the `relay_publish` override) and tracing off, the same message goes out through aiormq's
    channel, past FastStream's publish layers.
    """

    def __init__(
        self, broker: RabbitBroker, *, timeout_seconds: float, direct: bool = False
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.direct: Callable[[OutboxMessage], Awaitable[None]] | None = None
        if direct:
            from subgraph.overrides.relay_publish import DirectPublish

            self.direct = DirectPublish(
                broker, content_type=CONTENT_TYPE, timeout_seconds=timeout_seconds
            )
        self.publishers: dict[str, RabbitPublisher] = {
            event_type: broker.publisher(
                exchange=ORDERS_EXCHANGE,
                routing_key=event_type,
                persist=True,
                mandatory=True,
                timeout=timeout_seconds,
                content_type=CONTENT_TYPE,
                message_type=event_type,
                schema=model,
                title=event_type,
                description=DESCRIPTIONS[event_type],
            )
            for event_type, model in EVENT_MODELS.items()
        }

    async def publish(self, message: OutboxMessage) -> None:
        """Publish one stored event and return once the broker confirmed it; else raise."""
        publisher = self.publishers.get(message.event_type)
        if publisher is None:
            raise PublishFailed(f"no publisher for event type {message.event_type!r}")
        try:
            if self.direct is not None and not tracing.ACTIVE:
                async with asyncio.timeout(self.timeout_seconds):
                    await self.direct(message)
                return
            # Observability: the publish span joins the trace of the writing transaction.
            with tracing.continuing(message.trace_context):
                # The outer bound also covers waiting for a reconnecting channel, which the
                # confirm timeout alone does not.
                async with asyncio.timeout(self.timeout_seconds):
                    await publisher.publish(
                        message.payload.encode(),
                        message_id=message.event_id,
                        correlation_id=str(message.order_id),
                        content_type=CONTENT_TYPE,
                        timestamp=message.created_at,
                    )
        except TimeoutError:
            raise PublishFailed(f"no confirm within {self.timeout_seconds:g} s") from None
        except PublishError:
            raise Unroutable(
                f"returned by the broker: no queue is bound to {ORDERS_EXCHANGE.name} "
                f"for {message.event_type}"
            ) from None
        except DeliveryError:
            raise Nacked("nacked by the broker") from None
        except PublishFailed:
            raise
        except Exception as error:
            raise PublishFailed(f"{type(error).__name__}: {error}") from error

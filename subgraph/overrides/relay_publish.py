"""The relay publishes each event straight through aiormq's channel, past FastStream's and
aio-pika's publish layers, without waiting for its frames to be written before the next.

Through FastStream a publish runs its publisher's call chain and middlewares, encodes the body
through its codec, builds an aio-pika `Message` (a locked object whose every attribute is
checked as it is set), and then aiormq's `basic_publish`, which holds the channel's lock until
the message's frames are written: a batch's publishes take turns one loop step at a time. Here
the properties are built once per event as FastStream would build them, and
`basic_publish(..., wait=False)` releases the lock as soon as the frames are queued, so a
batch's frames go out together; each publish still waits for the broker's confirm.

Measured: 100 publishes in flight, confirms on, in one process, 0.55-0.62x the CPU per event of
FastStream's publisher; served under placeOrder (`python -m bench.processes`, 4 rounds
alternating with this override off, `bench/results/processes-2026-12-08-relay-publish.json`)
the messaging process's CPU per placed order 0.711x (0.683..0.811), RabbitMQ's 0.898x, and
placeOrder's req/s 1.064x (1.029..1.128).

Only public APIs are called (FastStream's `broker.declare_exchange`, aio-pika's
`Exchange.channel.get_underlay_channel()`, aiormq's `Channel.basic_publish` and
`spec.Basic.Properties`); what is relied on is that the message is the one FastStream's
publisher sends: the same properties (content type, persistent delivery, message id,
correlation id, type, app id, timestamp, no headers), the same body, the same outcomes
(aiormq raises the `DeliveryError` and `PublishError` aio-pika re-exports).
`tests/messaging/test_relay_publish.py` publishes one event each way and compares them as a
consumer receives them. With tracing on, events go through FastStream's publisher, whose
middleware makes the publish span and puts `traceparent` in the headers. Switch:
LIBRARY_OVERRIDES name `relay_publish`; off, every event goes through FastStream's publisher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiormq

from subgraph.messaging.broker import APP_ID, ORDERS_EXCHANGE

if TYPE_CHECKING:
    from faststream.rabbit import RabbitBroker

    from subgraph.persistence.outbox import OutboxMessage

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker


class DirectPublish:
    """Publishes one stored event on the `orders` exchange and returns its broker confirm."""

    def __init__(self, broker: RabbitBroker, *, content_type: str, timeout_seconds: float) -> None:
        self._broker = broker
        self._content_type = content_type
        self._timeout = timeout_seconds
        self._exchange: Any = None

    async def __call__(self, message: OutboxMessage) -> None:
        exchange = self._exchange
        if exchange is None:
            # Declared at start-up (messaging/broker.py); FastStream returns its cached object.
            exchange = self._exchange = await self._broker.declare_exchange(ORDERS_EXCHANGE)
        # A robust channel's underlying one changes when it reconnects: asked for each time.
        channel = await exchange.channel.get_underlay_channel()
        await channel.basic_publish(
            message.payload.encode(),
            exchange=ORDERS_EXCHANGE.name,
            routing_key=message.event_type,
            properties=aiormq.spec.Basic.Properties(
                content_type=self._content_type,
                delivery_mode=PERSISTENT,
                correlation_id=str(message.order_id),
                message_id=message.event_id,
                timestamp=message.created_at,
                message_type=message.event_type,
                app_id=APP_ID,
            ),
            mandatory=True,
            timeout=self._timeout,
            wait=False,
        )

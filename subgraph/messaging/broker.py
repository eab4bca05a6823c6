"""The RabbitMQ topology of the event contract and the FastStream broker that speaks it."""

from __future__ import annotations

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas import Channel

from subgraph.settings import Settings
from subgraph.telemetry.logs import broker_logger
from subgraph.telemetry.messaging import broker_middlewares

APP_ID = "orders-subgraph"

ORDERS_EXCHANGE = RabbitExchange("orders", type=ExchangeType.TOPIC, durable=True)
INVENTORY_EXCHANGE = RabbitExchange("inventory", type=ExchangeType.TOPIC, durable=True)

INVENTORY_RESERVED = "inventory.reserved"
INVENTORY_REJECTED = "inventory.rejected"
INVENTORY_QUEUE_NAME = "orders.inventory-results"
DEAD_LETTER_NAME = "orders.inventory-results.dlq"

# Unparseable inventory results are rejected to this fanout exchange and kept in the queue of
# the same name for a human to look at; nothing consumes it automatically.
DEAD_LETTER_EXCHANGE = RabbitExchange(DEAD_LETTER_NAME, type=ExchangeType.FANOUT, durable=True)
DEAD_LETTER_QUEUE = RabbitQueue(DEAD_LETTER_NAME, durable=True)

# FastStream binds a queue with one routing key; the second key is bound in `declare_topology`.
INVENTORY_QUEUE = RabbitQueue(
    INVENTORY_QUEUE_NAME,
    durable=True,
    routing_key=INVENTORY_RESERVED,
    arguments={"x-dead-letter-exchange": DEAD_LETTER_NAME},
)

# The placeholder a broker is built with when it will never connect (the AsyncAPI document).
OFFLINE_URL = "amqp://localhost:5672/"


def make_broker(settings: Settings, *, url: str | None = None) -> RabbitBroker:
    """A broker for `url` (default: RABBITMQ_URL); nothing connects until `start()`.

    Returned mandatory messages raise instead of counting as delivered, and the documented
    server address is the configured public one, never the connection URL with credentials.
    """
    if settings.override("amqp_writes"):
        from subgraph.overrides import amqp_writes

        amqp_writes.install()  # before any connection: the ones opened from now on join writes
    if url is None:
        url = settings.rabbitmq_url.get_secret_value() if settings.rabbitmq_url else OFFLINE_URL
    return RabbitBroker(
        url,
        specification_url=settings.asyncapi_server_url,
        description="RabbitMQ carrying the orders subgraph's events and the inventory results",
        default_channel=Channel(publisher_confirms=True, on_return_raises=True),
        timeout=settings.rabbitmq_connect_timeout_seconds,
        app_id=APP_ID,
        graceful_timeout=settings.rabbitmq_publish_timeout_seconds,
        # Observability: trace spans and headers, dead letters counted; our log handler.
        middlewares=broker_middlewares(),
        logger=broker_logger(),
    )


async def declare_topology(broker: RabbitBroker, *, consume: bool) -> None:
    """Declare what the service publishes to and, when consuming, what it reads from.

    `broker.connect()` declares nothing, and publishing to a missing exchange closes the
    channel, so the `orders` exchange is declared before the first publish.
    """
    await broker.declare_exchange(ORDERS_EXCHANGE)
    if not consume:
        return
    dead_letters = await broker.declare_exchange(DEAD_LETTER_EXCHANGE)
    dead_letter_queue = await broker.declare_queue(DEAD_LETTER_QUEUE)
    await dead_letter_queue.bind(dead_letters, routing_key="")
    inventory = await broker.declare_exchange(INVENTORY_EXCHANGE)
    queue = await broker.declare_queue(INVENTORY_QUEUE)
    for key in (INVENTORY_RESERVED, INVENTORY_REJECTED):
        await queue.bind(inventory, routing_key=key)

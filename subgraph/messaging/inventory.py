"""The inventory saga's consumer: stock results from the products service confirm or reject orders.

Acknowledgement is explicit: a message is acked only after its transaction committed. A message
that fails validation (or has no handler) is rejected without requeue, so the queue's
dead-letter exchange moves it to `orders.inventory-results.dlq`; a transient failure (database
away, concurrent change) is requeued after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.schemas import Channel
from faststream.rabbit.subscriber import RabbitSubscriber

from subgraph.domain.errors import ConcurrentModification, DomainError
from subgraph.messaging.broker import (
    INVENTORY_EXCHANGE,
    INVENTORY_QUEUE,
    INVENTORY_REJECTED,
    INVENTORY_RESERVED,
)
from subgraph.messaging.schemas import (
    InventoryRejectedMessage,
    InventoryReservedMessage,
    InventoryResultMessage,
)
from subgraph.ports import UnitOfWork
from subgraph.service import INVENTORY_PRINCIPAL, apply_inventory_result
from subgraph.telemetry import messaging as telemetry

logger = logging.getLogger("subgraph.messaging.inventory")

PREFETCH = 16
REQUEUE_PAUSE_SECONDS = 1.0

# Failures that may pass: the message goes back to the queue instead of the dead-letter queue.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConcurrentModification,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sqlite3.OperationalError,
)


def _routed_by(key: str) -> Callable[[Any], bool]:
    def matches(message: Any) -> bool:
        return bool(message.raw_message.routing_key == key)

    return matches


def add_inventory_consumer(
    broker: RabbitBroker, unit_of_work: Callable[[], UnitOfWork]
) -> RabbitSubscriber:
    """Subscribe the inventory handlers on `broker`; each message gets a fresh unit of work."""
    subscriber = broker.subscriber(
        INVENTORY_QUEUE,
        INVENTORY_EXCHANGE,
        channel=Channel(prefetch_count=PREFETCH),
        # Anything the handlers do not settle themselves (a payload that fails validation,
        # a routing key without a handler, a bug) is rejected to the dead-letter queue.
        ack_policy=AckPolicy.REJECT_ON_ERROR,
        title="orders.inventory-results",
        description=(
            "Stock results from the products service, read from the durable queue "
            "`orders.inventory-results` bound to the `inventory` topic exchange with "
            "`inventory.reserved` (PENDING -> CONFIRMED) and `inventory.rejected` "
            "(PENDING -> REJECTED). Redelivered event ids and orders no longer PENDING change "
            "nothing; unparseable messages go to `orders.inventory-results.dlq`."
        ),
    )

    @subscriber(filter=_routed_by(INVENTORY_RESERVED))
    async def inventory_reserved(result: InventoryReservedMessage, message: RabbitMessage) -> None:
        """inventory.reserved: the stock is reserved; a PENDING order becomes CONFIRMED."""
        await _apply(unit_of_work(), result, message, reserved=True, reason=None)

    @subscriber(filter=_routed_by(INVENTORY_REJECTED))
    async def inventory_rejected(result: InventoryRejectedMessage, message: RabbitMessage) -> None:
        """inventory.rejected: no stock; a PENDING order becomes REJECTED with the reason."""
        await _apply(unit_of_work(), result, message, reserved=False, reason=result.reason)

    return subscriber


async def _apply(
    uow: UnitOfWork,
    result: InventoryResultMessage,
    message: RabbitMessage,
    *,
    reserved: bool,
    reason: str | None,
) -> None:
    try:
        outcome = await apply_inventory_result(
            uow=uow,
            principal=INVENTORY_PRINCIPAL,
            event_id=result.event_id,
            order_id=result.order_id,
            reserved=reserved,
            reason=reason,
        )
    except TRANSIENT_ERRORS as error:
        logger.warning(
            "inventory result %s for order %s not applied (%s); requeued",
            result.event_id,
            result.order_id,
            type(error).__name__,
        )
        telemetry.inventory("requeued")  # observability
        await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        await message.nack(requeue=True)
        return
    except DomainError as error:
        # A rule refused it; retrying cannot help and nothing was stored.
        logger.warning("inventory result %s refused: %s", result.event_id, error)
        telemetry.inventory("refused")  # observability
        await message.ack()
        return
    logger.info(
        "inventory result %s for order %s: %s", result.event_id, result.order_id, outcome.value
    )
    telemetry.inventory(outcome.value)  # observability
    await message.ack()

"""The messaging side's observability: relay publish outcomes, inventory results, and the
FastStream middlewares (trace propagation, dead-letter counting) every broker carries."""

from __future__ import annotations

from typing import Any

from faststream import BaseMiddleware

from subgraph.telemetry import metrics, tracing


def published(event_type: str, created_at: Any) -> None:
    """An outbox event confirmed by the broker: counted, and its commit-to-confirm lag."""
    metrics.published(event_type, created_at)


def publish_failed(event_type: str, error: BaseException) -> None:
    """An outbox publish that will be retried: returned, nacked or failed (timeout, outage)."""
    from subgraph.messaging.publisher.events import Nacked, Unroutable

    outcome = (
        "returned"
        if isinstance(error, Unroutable)
        else "nacked"
        if isinstance(error, Nacked)
        else "failed"
    )
    metrics.publish_failed(event_type, outcome)


def inventory(outcome: str) -> None:
    """An inventory result handled: applied, duplicate, not_pending, unknown_order, refused or
    requeued (dead_lettered is counted by `CountDeadLetters`)."""
    metrics.inventory(outcome)


class CountDeadLetters(BaseMiddleware):  # type: ignore[type-arg]
    """Counts consumed messages that end in an exception: with REJECT_ON_ERROR (the inventory
    consumer's policy) they are rejected to the dead-letter queue."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        try:
            return await call_next(msg)
        except Exception:
            metrics.inventory("dead_lettered")
            raise


def broker_middlewares() -> list[Any]:
    """The middlewares of every broker: trace spans and headers first (when tracing is on)."""
    middlewares: list[Any] = []
    telemetry = tracing.broker_middleware()
    if telemetry is not None:
        middlewares.append(telemetry)
    middlewares.append(CountDeadLetters)
    return middlewares

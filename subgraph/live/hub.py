"""One worker's subscribers and the fan-out of each committed change to the ones it matches.

Used from the event loop only. Offering a change never waits: each subscriber has a bounded
queue, and a subscriber whose queue is full is ended (its reader gets `Overflowed`) and counted,
so a slow client never holds up the feed or any other subscriber.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from subgraph.domain.order import Order, OrderStatus

PLACED, UPDATED, DELETED = "order.placed", "order.updated", "order.deleted"


@dataclass(frozen=True)
class Change:
    """One committed change: the event's id and type, and the order as that change left it."""

    event_id: str
    event_type: str
    order: Order
    position: int = 0  # the outbox row's id: changes committed later have higher ones

    @property
    def order_id(self) -> int:
        assert self.order.id is not None
        return self.order.id


def change_from_payload(payload: str | bytes | dict[str, Any], position: int = 0) -> Change:
    """The change an outbox row (or an `orders` message body) describes.

    The payload carries the whole order snapshot, so no subscriber needs a database read
    for the order's own fields.
    """
    body = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    state = body["order"]
    order = Order(
        id=int(state["id"]),
        user_id=str(state["user_id"]),
        product_id=str(state["product_id"]),
        quantity=int(state["quantity"]),
        status=OrderStatus(state["status"]),
        created_at=_timestamp(state["created_at"]),
        updated_at=_timestamp(state["updated_at"]),
    )
    return Change(
        event_id=str(body["event_id"]),
        event_type=str(body["event_type"]),
        order=order,
        position=position,
    )


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Counter:
    """A monotonically increasing count, for a metrics exporter to read (`value`)."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


# Process-wide, as a Prometheus exporter would publish them.
OVERFLOWS = Counter(
    "orders_subscription_overflows_total",
    "Subscriptions ended because their client fell a whole queue of events behind",
)
DELIVERED = Counter(
    "orders_subscription_events_total", "Changes offered to subscribers (one per subscriber)"
)
REFUSED = Counter(
    "orders_subscription_refused_total", "Subscriptions refused by the per-worker limit"
)


class LimitReached(Exception):
    """This worker serves as many subscriptions as its limit allows."""


class Overflowed(Exception):
    """The subscriber's queue was full when a change arrived: the subscription is over."""


Match = Callable[[Change], bool]


@dataclass(eq=False)
class Subscriber:
    """One subscription's queue of changes; read with `next`, ended by `close`."""

    hub: Hub
    order_id: int | None
    matches: Match
    capacity: int
    pending: deque[Change] = field(default_factory=deque)
    overflowed: bool = False
    closed: bool = False
    # Changes at or below this outbox position were committed before the subscription began.
    after: int = 0
    _waiter: asyncio.Future[None] | None = None

    def offer(self, change: Change) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.capacity:
            self.overflowed = True
            self.pending.clear()
            OVERFLOWS.inc()
            self.hub.remove(self)
        else:
            self.pending.append(change)
            DELIVERED.inc()
        self._wake()

    async def next(self, *, within: float | None) -> Change | None:
        """The next change; None after `within` seconds without one. Raises Overflowed."""
        while self.pending and self.pending[0].position <= self.after:
            self.pending.popleft()
        while not self.pending:
            if self.overflowed:
                raise Overflowed
            if self.closed:
                return None
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(within):
                    await waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
            while self.pending and self.pending[0].position <= self.after:
                self.pending.popleft()
        return self.pending.popleft()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub.remove(self)
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Hub:
    """The subscribers of one worker: those of one order by its id, the others in one set."""

    def __init__(self, *, queue_size: int, max_subscriptions: int) -> None:
        self.queue_size = queue_size
        self.max_subscriptions = max_subscriptions
        self._by_order: dict[int, set[Subscriber]] = {}
        self._wide: set[Subscriber] = set()
        self._count = 0
        self.on_first_subscriber: Callable[[], None] | None = None

    @property
    def subscriptions(self) -> int:
        return self._count

    def subscribe(self, *, order_id: int | None, matches: Match) -> Subscriber:
        """A new subscriber of the changes `matches` accepts (of one order when `order_id`)."""
        if self._count >= self.max_subscriptions:
            REFUSED.inc()
            raise LimitReached
        subscriber = Subscriber(self, order_id, matches, self.queue_size)
        if order_id is None:
            self._wide.add(subscriber)
        else:
            self._by_order.setdefault(order_id, set()).add(subscriber)
        self._count += 1
        if self._count == 1 and self.on_first_subscriber is not None:
            self.on_first_subscriber()
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber.order_id is None:
            found = subscriber in self._wide
            self._wide.discard(subscriber)
        else:
            group = self._by_order.get(subscriber.order_id)
            found = group is not None and subscriber in group
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self._by_order[subscriber.order_id]
        if found:
            self._count -= 1

    def publish(self, change: Change) -> None:
        """Offer `change` to every subscriber it matches; never waits."""
        for subscriber in list(self._candidates(change.order_id)):
            if subscriber.matches(change):
                subscriber.offer(change)

    def _candidates(self, order_id: int) -> Iterator[Subscriber]:
        yield from self._by_order.get(order_id, ())
        yield from self._wide

    def close(self) -> None:
        """End every subscription (shutdown): each reader sees the end of its stream."""
        for subscriber in [*self._wide, *(s for g in self._by_order.values() for s in g)]:
            subscriber.close()

    def stats(self) -> dict[str, int]:
        return {
            "subscriptions": self._count,
            "overflows": OVERFLOWS.value,
            "refused": REFUSED.value,
            "delivered": DELIVERED.value,
        }

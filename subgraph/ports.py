"""What the use cases need from storage, as small protocols: no SQL, no Piccolo.

The use cases (`subgraph.service`) are written against these; `subgraph.persistence` provides
them (and decides how reads are batched), and the unit tests provide in-memory fakes.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, Protocol, Self

from subgraph.domain.order import Order, OrderStatus, StatusChange


class StorageUnavailable(Exception):
    """The database could not be reached or stopped answering: try again later.

    Persistence raises it for every lost, refused or timed-out connection, whatever the driver
    said; a write that raised it was rolled back or committed whole (never half), so a retry
    with the same idempotency key is safe. Its message names what failed, never the data.
    """


class Parent(enum.Enum):
    """What a batch of order pages belongs to: `User.orders` or `Product.orders`."""

    USER = "user"
    PRODUCT = "product"


@dataclass(frozen=True)
class OrderFilter:
    """What a list asks for; `user_id` also carries a non-admin's own-orders restriction."""

    status: OrderStatus | None = None
    user_id: str | None = None
    product_id: str | None = None


class OrderReader(Protocol):
    """Reads of committed orders, unfiltered by caller: the use cases apply who sees what.

    How reads are grouped into statements (one request's batch, or the concurrent requests'
    batches together) is the implementation's business.
    """

    async def get_many(self, order_ids: Sequence[int]) -> dict[int, Order]:
        """The orders among `order_ids` that exist, by id."""
        ...

    async def list(self, where: OrderFilter, *, limit: int, offset: int) -> builtins.list[Order]:
        """One page of the orders that match, newest first."""
        ...

    async def pages_of(
        self,
        parent: Parent,
        parent_ids: Sequence[str],
        where: OrderFilter,
        *,
        limit: int,
        offset: int,
    ) -> dict[str, builtins.list[Order]]:
        """A page (newest first) of the matching orders of each of these users or products."""
        ...

    async def history(self, order_ids: Sequence[int]) -> dict[int, builtins.list[StatusChange]]:
        """Each order's status changes, oldest first."""
        ...


class KeyedPlacement(NamedTuple):
    """An order placed with an idempotency key, and the `placement_request` it answered."""

    order: Order
    request: str | None  # None for orders keyed before requests were remembered


class OrderWriter(Protocol):
    """Orders as a unit of work reads and changes them: reads see its own uncommitted writes."""

    async def get(self, order_id: int) -> Order | None:
        """The order; outside `async with`, as last committed."""
        ...

    async def find_by_idempotency_key(self, placed_by: str, key: str) -> KeyedPlacement | None: ...

    async def add(
        self,
        order: Order,
        *,
        placed_by: str,
        idempotency_key: str | None,
        request: str | None = None,
    ) -> Order | None:
        """The stored order (with its id); None when `placed_by` already used this key."""
        ...

    async def save(self, order: Order) -> None:
        """Store a changed order; ConcurrentModification if it changed since it was read."""
        ...

    async def delete(self, order: Order) -> None: ...


class ProcessedEvents(Protocol):
    """Ids of consumed events, so a redelivered one changes nothing."""

    async def record(self, event_id: str, *, now: datetime) -> bool:
        """Remember `event_id`; False when it was already recorded."""
        ...


class UnitOfWork(Protocol):
    """`async with uow:` is one transaction. Leaving it normally commits every change and the
    events recorded by every order that `orders` added, saved or deleted in it; an exception
    rolls all of it back."""

    @property
    def orders(self) -> OrderWriter: ...

    @property
    def inbox(self) -> ProcessedEvents: ...

    async def place(
        self,
        order: Order,
        *,
        placed_by: str,
        idempotency_key: str | None,
        request: str | None,
        event_id: str,
        now: datetime,
    ) -> Order | KeyedPlacement:
        """Store a new order, its first history entry and its OrderPlaced event, all or nothing,
        in a transaction of its own (not inside `async with`). When `placed_by` already used
        `idempotency_key`, nothing is stored and the order that key placed is the answer."""
        ...

    async def change(self, order: Order) -> bool:
        """Store an order changed since it was read (by `orders.get`, outside `async with`),
        its new history entries and the events it recorded, all or nothing, in a transaction of
        its own. False, with nothing stored, when the stored order is no longer at the version
        that was read (changed or deleted meanwhile): read it again and decide again."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

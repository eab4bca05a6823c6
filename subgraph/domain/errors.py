"""Typed domain errors: each becomes `success: false` with its message at the API edge."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the order domain refused the request; the message is safe to show to the caller."""


class OrderNotFound(DomainError):
    """No order with that id (or not one the caller may see)."""

    def __init__(self, order_id: object) -> None:
        super().__init__(f"Order {order_id} not found")


class InvalidQuantity(DomainError):
    """The quantity is outside the allowed range."""


class InvalidReference(DomainError):
    """A user id, product id or idempotency key is empty or too long."""


class InvalidStatus(DomainError):
    """The status text names no known status."""


class ForbiddenTransition(DomainError):
    """The order cannot move from its current status to the requested one."""


class QuantityLocked(DomainError):
    """The quantity can change only while the order is PENDING."""


class NothingToUpdate(DomainError):
    """An update named neither a status nor a quantity."""


class ConcurrentModification(DomainError):
    """Someone else changed the order between our read and our write."""

    def __init__(self, order_id: object) -> None:
        super().__init__(f"Order {order_id} was changed concurrently; reload it and try again")


class AccessDenied(Exception):
    """The caller may not act on this order: a FORBIDDEN GraphQL error, not a payload."""


class IdempotencyKeyReused(Exception):
    """The caller's idempotency key already placed a different order: a GraphQL error with its
    own code (a client bug to fix, not a retry to answer), and nothing changes."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotencyKey {key!r} was already used to place a different order "
            "(another userId, productId or quantity); use a new key for a new order"
        )


class BadInput(Exception):
    """An argument is out of range (a page limit, say); a GraphQL BAD_USER_INPUT error."""

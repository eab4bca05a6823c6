"""The Mutation root: domain outcomes become payloads, access refusals FORBIDDEN errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from subgraph import service
from subgraph.api.errors import Forbidden, KeyReused
from subgraph.api.info import Info
from subgraph.api.types import OrderType
from subgraph.domain.errors import AccessDenied, DomainError, IdempotencyKeyReused
from subgraph.domain.order import Order


@strawberry.type(description="The outcome of placeOrder.")
class PlaceOrderPayload:
    success: bool
    message: str
    order: OrderType | None = None


@strawberry.type(description="The outcome of updateOrder or cancelOrder.")
class UpdateOrderPayload:
    success: bool
    message: str
    order: OrderType | None = None


@strawberry.type(description="The outcome of deleteOrder.")
class DeleteOrderPayload:
    success: bool
    message: str


async def _attempt(info: Info, action: Callable[[], Awaitable[Order]]) -> Order | DomainError:
    """Run a use case; a domain refusal is returned as a value, an access refusal raised."""
    try:
        order = await action()
    except DomainError as error:
        return error
    except AccessDenied as error:
        raise Forbidden(str(error)) from None
    except IdempotencyKeyReused as error:
        raise KeyReused(str(error)) from None
    info.context.loaders.forget(order)
    return order


def _order_payload(
    payload: type[PlaceOrderPayload] | type[UpdateOrderPayload],
    outcome: Order | DomainError,
    message: str,
) -> PlaceOrderPayload | UpdateOrderPayload:
    if isinstance(outcome, DomainError):
        return payload(success=False, message=str(outcome))
    return payload(success=True, message=message, order=OrderType.from_domain(outcome))


@strawberry.type
class Mutation:
    @strawberry.federation.field(
        description="Place an order. A retry with the same idempotencyKey returns the first order.",
        authenticated=True,
    )
    async def place_order(
        self,
        info: Info,
        user_id: strawberry.ID,
        product_id: strawberry.ID,
        quantity: int,
        idempotency_key: str | None = None,
    ) -> PlaceOrderPayload:
        principal = await info.context.caller.principal()
        outcome = await _attempt(
            info,
            lambda: service.place_order(
                uow=info.context.unit_of_work(),
                principal=principal,
                user_id=str(user_id),
                product_id=str(product_id),
                quantity=quantity,
                idempotency_key=idempotency_key,
            ),
        )
        return _order_payload(PlaceOrderPayload, outcome, "Order placed successfully")  # type: ignore[return-value]

    @strawberry.federation.field(
        description='Change status ("Shipped", "SHIPPED", "shipped" alike) and/or quantity.',
        authenticated=True,
    )
    async def update_order(
        self,
        info: Info,
        id: strawberry.ID,
        status: str | None = None,
        quantity: int | None = None,
    ) -> UpdateOrderPayload:
        principal = await info.context.caller.principal()
        outcome = await _attempt(
            info,
            lambda: service.update_order(
                uow=info.context.unit_of_work(),
                principal=principal,
                order_id=str(id),
                status=status,
                quantity=quantity,
            ),
        )
        return _order_payload(UpdateOrderPayload, outcome, "Order updated successfully")  # type: ignore[return-value]

    @strawberry.federation.field(description="Cancel an order.", authenticated=True)
    async def cancel_order(self, info: Info, id: strawberry.ID) -> UpdateOrderPayload:
        principal = await info.context.caller.principal()
        outcome = await _attempt(
            info,
            lambda: service.cancel_order(
                uow=info.context.unit_of_work(), principal=principal, order_id=str(id)
            ),
        )
        return _order_payload(UpdateOrderPayload, outcome, "Order cancelled successfully")  # type: ignore[return-value]

    @strawberry.federation.field(description="Delete an order (admins only).", authenticated=True)
    async def delete_order(self, info: Info, id: strawberry.ID) -> DeleteOrderPayload:
        principal = await info.context.caller.principal()
        outcome = await _attempt(
            info,
            lambda: service.delete_order(
                uow=info.context.unit_of_work(), principal=principal, order_id=str(id)
            ),
        )
        if isinstance(outcome, DomainError):
            return DeleteOrderPayload(success=False, message=str(outcome))
        return DeleteOrderPayload(success=True, message="Order deleted successfully")

"""The GraphQL object types of the contract, mapped from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry import UNSET
from strawberry.dataloader import DataLoader
from strawberry.federation.schema_directives import ListSize

from subgraph import service
from subgraph.api.errors import BadUserInput
from subgraph.api.info import Info
from subgraph.domain.errors import BadInput
from subgraph.domain.order import Order, StatusChange
from subgraph.domain.order import OrderStatus as DomainOrderStatus
from subgraph.paging import PageKey

OrderStatus = strawberry.enum(
    DomainOrderStatus, name="OrderStatus", description="Where an order is in its life."
)

# Routers with demand control read the page size from `limit`. Arguments we do not use stay
# UNSET so they are left out of the SDL: composition (2.14) crashes on `sizedFields: null`.
PAGED = [
    ListSize(
        assumed_size=UNSET,
        slicing_arguments=["limit"],
        sized_fields=UNSET,
        require_one_slicing_argument=False,
    )
]

StatusArg = Annotated[
    DomainOrderStatus | None, strawberry.argument(description="Only orders in this status.")
]
# Nullable with defaults, as in the contract; an explicit null means the default.
LimitArg = Annotated[int | None, strawberry.argument(description="Page size, at most 1000.")]
OffsetArg = Annotated[int | None, strawberry.argument(description="Orders to skip, newest first.")]
DEFAULT_LIMIT = 100
# An optional filter has no default in the schema, as in the contract: graphql-core then leaves
# it out of the arguments when a request does, and Strawberry converts only what was sent (its
# conversion was 7% of a getOrders(limit: 20) for five arguments). `given` reads it back.
NOT_GIVEN: Any = UNSET
T = TypeVar("T")


def given(value: T | None) -> T | None:
    """The filter's value; None when the request left it out."""
    return None if value is UNSET else value


def page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """The page asked for; out-of-range values are a BAD_USER_INPUT error before any query."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    try:
        service.check_page(limit, offset)
    except BadInput as error:
        raise BadUserInput(str(error)) from None
    return limit, offset


@strawberry.type(name="OrderStatusChange", description="One status an order has had.")
class OrderStatusChangeType:
    status: DomainOrderStatus
    at: datetime
    reason: str | None = strawberry.field(description="Why, when known.")

    @classmethod
    def from_domain(cls, change: StatusChange) -> OrderStatusChangeType:
        return cls(status=change.status, at=change.at, reason=change.reason)


@strawberry.federation.type(
    name="Order", keys=["id"], description="An order of one product by one user."
)
class OrderType:
    # Plain str in Python, ID in the schema: `strawberry.ID(...)` is a function call per value,
    # three per order of every page.
    id: str = strawberry.field(graphql_type=strawberry.ID)
    user_id: str = strawberry.field(graphql_type=strawberry.ID)
    product_id: str = strawberry.field(graphql_type=strawberry.ID)
    quantity: int
    status: DomainOrderStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, order: Order) -> OrderType:
        return cls(
            id=str(order.id),
            user_id=order.user_id,
            product_id=order.product_id,
            quantity=order.quantity,
            status=order.status,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> OrderType | None:
        """One Order; its parameters are the key fields a representation may carry."""
        [order] = await cls.resolve_references(info, [{"id": id}])
        return order

    @classmethod
    async def resolve_references(
        cls, info: Info, keys: list[dict[str, Any]]
    ) -> list[OrderType | None]:
        """Every Order of one `_entities` batch in one call (see `api.entities`)."""
        await info.context.caller.principal()
        orders = await info.context.loaders.order_by_id.load_many([str(k["id"]) for k in keys])
        return [cls.from_domain(o) if o else None for o in orders]

    @strawberry.field(description="Every status the order has had, oldest first.")
    async def history(self, info: Info) -> list[OrderStatusChangeType]:
        changes = await info.context.loaders.history.load(int(self.id))
        return [OrderStatusChangeType.from_domain(c) for c in changes]

    @strawberry.field(description="The user who ordered; the users subgraph resolves the rest.")
    def user(self) -> UserType:
        return UserType(id=self.user_id)

    @strawberry.field(description="The product ordered; the products subgraph resolves the rest.")
    def product(self) -> ProductType:
        return ProductType(id=self.product_id)


@strawberry.federation.type(name="User", keys=["id"], description="Owned by the users subgraph.")
class UserType:
    id: str = strawberry.field(graphql_type=strawberry.ID)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> UserType:
        return cls(id=id)

    @strawberry.federation.field(
        description="This user's orders, newest first.", authenticated=True, directives=PAGED
    )
    async def orders(
        self,
        info: Info,
        status: StatusArg = NOT_GIVEN,
        limit: LimitArg = 100,
        offset: OffsetArg = 0,
    ) -> list[OrderType]:
        return await _orders_page(
            info, info.context.loaders.orders_of_user, self.id, status, limit, offset
        )


@strawberry.federation.type(
    name="Product", keys=["id"], description="Owned by the products subgraph."
)
class ProductType:
    id: str = strawberry.field(graphql_type=strawberry.ID)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> ProductType:
        return cls(id=id)

    @strawberry.federation.field(
        description="Orders of this product, newest first.", authenticated=True, directives=PAGED
    )
    async def orders(
        self,
        info: Info,
        status: StatusArg = NOT_GIVEN,
        limit: LimitArg = 100,
        offset: OffsetArg = 0,
    ) -> list[OrderType]:
        return await _orders_page(
            info, info.context.loaders.orders_of_product, self.id, status, limit, offset
        )


async def _orders_page(
    info: Info,
    loader: DataLoader[PageKey, list[Order]],
    parent_id: str,
    status: DomainOrderStatus | None,
    limit: int | None,
    offset: int | None,
) -> list[OrderType]:
    """One parent's page of orders through the request's batching loader."""
    limit, offset = page(limit, offset)
    await info.context.caller.principal()
    orders = await loader.load((parent_id, given(status), limit, offset))
    return [OrderType.from_domain(o) for o in orders]

"""The Query root: the seed's `getOrders` and `getOrder`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from subgraph import service
from subgraph.api.info import Info
from subgraph.api.types import PAGED, LimitArg, OffsetArg, OrderType, StatusArg, page


@strawberry.type
class Query:
    @strawberry.federation.field(
        description="Orders, newest first. A caller who is not an admin sees only their own.",
        authenticated=True,
        directives=PAGED,
    )
    async def get_orders(
        self,
        info: Info,
        status: StatusArg = None,
        user_id: Annotated[strawberry.ID | None, strawberry.argument(name="userId")] = None,
        product_id: Annotated[strawberry.ID | None, strawberry.argument(name="productId")] = None,
        limit: LimitArg = 100,
        offset: OffsetArg = 0,
    ) -> list[OrderType]:
        limit, offset = page(limit, offset)
        orders = await service.list_orders(
            uow=info.context.uow,
            principal=await info.context.caller.principal(),
            status=status,
            user_id=str(user_id) if user_id is not None else None,
            product_id=str(product_id) if product_id is not None else None,
            limit=limit,
            offset=offset,
            read_user_pages=info.context.loaders.shared_user_pages(),
        )
        return [OrderType.from_domain(o) for o in orders]

    @strawberry.federation.field(
        description="One order, or null when it does not exist or is not yours.",
        authenticated=True,
    )
    async def get_order(self, info: Info, id: strawberry.ID) -> OrderType | None:
        await info.context.caller.principal()
        order = await info.context.loaders.order_by_id.load(str(id))
        return OrderType.from_domain(order) if order else None

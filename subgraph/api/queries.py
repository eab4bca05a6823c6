"""The Query root: the seed's `getOrders` and `getOrder`."""

from __future__ import annotations

from typing import Annotated, cast

import strawberry

from subgraph import service
from subgraph.api.info import Info
from subgraph.api.sdl import PrintsSdl, ServiceSdl
from subgraph.api.types import (
    NOT_GIVEN,
    PAGED,
    LimitArg,
    OffsetArg,
    OrderType,
    StatusArg,
    given,
    page,
)


@strawberry.type
class Query:
    # Federation's `_service`, defined here (Strawberry then uses ours instead of its own) so
    # that it answers with the SDL as FEDERATION_DIRECTIVES shapes it. First, as Strawberry's is.
    @strawberry.field(name="_service")
    def service_sdl(self, info: Info) -> ServiceSdl:
        return ServiceSdl(sdl=cast("PrintsSdl", info.schema).sdl)

    @strawberry.federation.field(
        description="Orders, newest first. A caller who is not an admin sees only their own.",
        authenticated=True,
        directives=PAGED,
    )
    async def get_orders(
        self,
        info: Info,
        status: StatusArg = NOT_GIVEN,
        user_id: Annotated[strawberry.ID | None, strawberry.argument(name="userId")] = NOT_GIVEN,
        product_id: Annotated[
            strawberry.ID | None, strawberry.argument(name="productId")
        ] = NOT_GIVEN,
        limit: LimitArg = 100,
        offset: OffsetArg = 0,
    ) -> list[OrderType]:
        limit, offset = page(limit, offset)
        orders = await service.list_orders(
            orders=info.context.reads,
            principal=await info.context.caller.principal(),
            status=given(status),
            user_id=given(user_id),
            product_id=given(product_id),
            limit=limit,
            offset=offset,
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

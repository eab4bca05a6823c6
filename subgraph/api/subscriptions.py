"""The Subscription root, and /graphql's WebSocket and SSE transports for it (issue 17).

`orderUpdated(id)` and `ordersUpdated(...)` follow the worker's hub (`subgraph.live`): every
committed change, as the order that change left, in commit order per order. The access rules
are the reads': a token is required, a non-admin follows only their own orders, and a
subscription ends with one UNAUTHENTICATED error when its token's `exp` passes.

Transports: graphql-transport-ws and graphql-ws over WebSocket (the token in the
`connection_init` payload or the upgrade request's Authorization header), and GraphQL over SSE
(POST with `Accept: text/event-stream`, the token in the Authorization header), framed with LF
line ends: Hive Gateway's HTTP executor splits events only on a blank LF line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

import jwt
import strawberry
from graphql import GraphQLError
from litestar import WebSocket, websocket
from strawberry.http.streaming import SSETransport
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
)
from strawberry.types.unset import UNSET, UnsetType

from subgraph import service
from subgraph.api.context import Caller, RequestContext, Services
from subgraph.api.errors import (
    UNAVAILABLE,
    ClientError,
    Forbidden,
    Unauthenticated,
    masked,
    request_id_of,
)
from subgraph.api.info import Info
from subgraph.api.loaders import Loaders
from subgraph.api.types import NOT_GIVEN, OrderType, StatusArg, given
from subgraph.domain.access import Principal
from subgraph.domain.order import OrderStatus
from subgraph.live.hub import DELETED, Change, LimitReached, Match, Overflowed, Subscriber
from subgraph.live.runtime import LiveUpdates
from subgraph.settings import Settings

logger = logging.getLogger("subgraph.subscriptions")

SUBSCRIPTION_PROTOCOLS = (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL)
# Strawberry's own per-connection cap counts every in-flight operation; ours (coded) comes first.
STRAWBERRY_CAP_MARGIN = 10
# Keys of a connection_init payload that may carry the token, as clients and routers send it.
TOKEN_KEYS = ("authorization", "Authorization", "AUTHORIZATION")

Clock = Callable[[], float]
clock: Clock = time.time  # tests may replace it


class NotFound(ClientError):
    code = "NOT_FOUND"


class SubscriptionOverflow(ClientError):
    code = "SUBSCRIPTION_OVERFLOW"


class SubscriptionLimit(ClientError):
    code = "SUBSCRIPTION_LIMIT_REACHED"


class SubscriptionsUnavailable(ClientError):
    code = UNAVAILABLE


class ConnectionContext(RequestContext, kw_only=True):
    """The context of one WebSocket connection, shared by all its operations."""

    services: Services
    authorization: str | None = None
    connection_params: dict[str, object] | None = None
    open_subscriptions: int = 0

    def adopt(self, params: Mapping[str, object]) -> None:
        """Take the token from a connection_init payload, if it carries one."""
        header = token_header(params)
        if header is not None:
            self.authorization = header
            self.caller = Caller(self.services.verifier, header)
            self.loaders = Loaders(reads=self.reads, principal=self.caller.principal)


def token_header(params: Mapping[str, object]) -> str | None:
    """The Authorization value a connection_init payload carries: `{"Authorization": ...}`,
    `{"headers": {"authorization": ...}}` or `{"token": ...}` (a bare token)."""
    headers = params.get("headers")
    for source in (params, headers if isinstance(headers, Mapping) else {}):
        for key in TOKEN_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value
    token = params.get("token")
    if isinstance(token, str) and token.strip():
        return token if token.lower().startswith("bearer ") else f"Bearer {token}"
    return None


def _expiry(header: str | None) -> float:
    """The verified token's `exp` (epoch seconds): the subscription ends then."""
    token = (header or "").strip().partition(" ")[2].strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


@dataclass
class _Session:
    """One subscription's caller, its token's end, and the worker's live updates."""

    context: RequestContext
    live: LiveUpdates
    principal: Principal
    expires: float

    async def subscribe(self, *, order_id: int | None, matches: Match) -> Subscriber:
        """A subscriber of the changes committed from now on (registered, then positioned
        after the newest committed change, so none committed in between is missed)."""
        context = self.context
        limit = self.live.settings.subscriptions_per_connection
        if isinstance(context, ConnectionContext) and context.open_subscriptions >= limit:
            raise SubscriptionLimit(
                f"This connection has as many subscriptions as it may ({limit})"
            )
        try:
            subscriber = self.live.hub.subscribe(order_id=order_id, matches=matches)
        except LimitReached:
            raise SubscriptionLimit(
                "This server has as many subscriptions as it may; try again later"
            ) from None
        if isinstance(context, ConnectionContext):
            context.open_subscriptions += 1
        try:
            subscriber.after = await self.live.feed.newest()
        except BaseException:
            self.release(subscriber)
            raise
        return subscriber

    def release(self, subscriber: Subscriber) -> None:
        subscriber.close()
        if isinstance(self.context, ConnectionContext):
            self.context.open_subscriptions -= 1

    async def follow(self, subscriber: Subscriber) -> AsyncIterator[Change]:
        """The subscriber's changes until it ends; UNAUTHENTICATED once the token expired."""
        context = self.context
        while True:
            left = self.expires - clock()
            if left <= 0:
                raise Unauthenticated("Token has expired: the subscription has ended")
            try:
                change = await subscriber.next(within=left)
            except Overflowed:
                raise SubscriptionOverflow(
                    f"The client fell {subscriber.capacity} changes behind: the subscription "
                    "has ended; subscribe again (and read the order) to continue"
                ) from None
            if change is None:
                if subscriber.closed:
                    return
                continue
            # Each event is a fresh execution: loaders cached for an earlier one are stale.
            context.loaders = Loaders(reads=context.reads, principal=context.caller.principal)
            yield change


async def _session(info: Info) -> _Session:
    context = info.context
    principal = await context.caller.principal()  # UNAUTHENTICATED without a valid token
    if isinstance(context, ConnectionContext):
        header = context.authorization
        connection: Any = context.websocket
    else:
        connection = context.request
        header = connection.headers.get("authorization") if connection is not None else None
    live: LiveUpdates | None = connection.app.state.get("live") if connection else None
    if live is None or not live.running:
        raise SubscriptionsUnavailable("Live updates are not enabled on this server")
    return _Session(context=context, live=live, principal=principal, expires=_expiry(header))


T = TypeVar("T")


async def _guarded(info: Info, stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """`stream`, with anything unexpected masked as every resolver's errors are."""
    try:
        async for item in stream:
            yield item
    except GraphQLError:
        raise
    except Exception as error:  # noqa: BLE001 - masked, logged with the request id
        raise masked(
            GraphQLError(str(error), original_error=error), request_id_of(info.context)
        ) from None
    finally:
        await stream.aclose()


async def _order_updated(info: Info, id: str) -> AsyncGenerator[OrderType, None]:
    session = await _session(info)
    principal = session.principal
    order_id = service.parse_order_id(id)
    subscriber = await session.subscribe(
        order_id=order_id or 0, matches=lambda change: principal.can_view(change.order.user_id)
    )
    try:
        # Subscribed first, read second: a change committed in between is not missed.
        existing = await info.context.loaders.order_by_id.load(id) if order_id else None
        if existing is None:  # missing or not the caller's: the same answer
            raise NotFound(f"No order {id}")
        async for change in session.follow(subscriber):
            if change.event_type == DELETED:
                return
            yield OrderType.from_domain(change.order)
    finally:
        session.release(subscriber)


async def _orders_updated(
    info: Info, user_id: str | None, product_id: str | None, status: OrderStatus | None
) -> AsyncGenerator[OrderType, None]:
    session = await _session(info)
    principal = session.principal
    if user_id is not None and not principal.can_view(user_id):
        raise Forbidden("You can subscribe only to your own orders")
    if not principal.is_admin:
        user_id = principal.user_id

    def matches(change: Change) -> bool:
        order = change.order
        return (
            change.event_type != DELETED
            and (user_id is None or order.user_id == user_id)
            and (product_id is None or order.product_id == product_id)
            and (status is None or order.status is status)
        )

    subscriber = await session.subscribe(order_id=None, matches=matches)
    try:
        async for change in session.follow(subscriber):
            yield OrderType.from_domain(change.order)
    finally:
        session.release(subscriber)


UserArg = Annotated[
    strawberry.ID | None, strawberry.argument(name="userId", description="Only this user's orders.")
]
ProductArg = Annotated[
    strawberry.ID | None,
    strawberry.argument(name="productId", description="Only orders of this product."),
]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Each committed change of this order after the subscription starts; completes "
            "when the order is deleted."
        )
    )
    async def order_updated(self, info: Info, id: strawberry.ID) -> AsyncGenerator[OrderType, None]:
        async for order in _guarded(info, _order_updated(info, str(id))):
            yield order

    @strawberry.subscription(
        description="Each order placed or changed that the caller may see, optionally filtered."
    )
    async def orders_updated(
        self,
        info: Info,
        user_id: UserArg = NOT_GIVEN,
        product_id: ProductArg = NOT_GIVEN,
        status: StatusArg = NOT_GIVEN,
    ) -> AsyncGenerator[OrderType, None]:
        wanted_user, wanted_product = given(user_id), given(product_id)
        stream = _orders_updated(
            info,
            str(wanted_user) if wanted_user is not None else None,
            str(wanted_product) if wanted_product is not None else None,
            given(status),
        )
        async for order in _guarded(info, stream):
            yield order


class LineFeedSSE(SSETransport):
    """GraphQL over SSE with LF line ends (Strawberry writes CRLF; both are valid SSE, and
    Hive Gateway's HTTP executor splits events only on a blank LF line)."""

    heartbeat_seconds: ClassVar[float] = 15.0

    def __init__(self) -> None:
        super().__init__(heartbeat_interval=self.heartbeat_seconds)

    def encode_event(self, event: str, data: str | None = None) -> str:
        return super().encode_event(event, data).replace("\r\n", "\n")

    def encode_comment(self, comment: str) -> str:
        return f": {comment}\n\n"


C = TypeVar("C")


def live_controller(controller: C, services: Services, settings: Settings) -> C:
    """The GraphQL controller with the subscription transports: its WebSocket connections
    get a `ConnectionContext` (token from the upgrade request or connection_init), SSE is
    LF-framed, and the keep-alive and per-connection limits come from the settings."""
    base: Any = controller

    class SSE(LineFeedSSE):
        heartbeat_seconds = settings.subscription_keep_alive_seconds

    class LiveController(base):  # type: ignore[misc, valid-type]
        protocols = SUBSCRIPTION_PROTOCOLS
        stream_transport_classes_by_protocol: ClassVar[Mapping[str, Any]] = {
            **base.stream_transport_classes_by_protocol,
            GRAPHQL_SSE_PROTOCOL: SSE,
        }
        keep_alive = True
        keep_alive_interval = settings.subscription_keep_alive_seconds
        max_subscriptions_per_connection = (
            settings.subscriptions_per_connection + STRAWBERRY_CAP_MARGIN
        )

        @websocket()
        async def websocket_endpoint(self, socket: WebSocket[Any, Any, Any]) -> None:
            header = socket.headers.get("authorization")
            caller = Caller(services.verifier, header)
            context = ConnectionContext(
                websocket=socket,
                services=services,
                authorization=header,
                caller=caller,
                reads=services.reads,
                unit_of_work=services.unit_of_work,
                loaders=Loaders(reads=services.reads, principal=caller.principal),
            )
            await self.run(request=socket, context=context, root_value=None)

        async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
            if isinstance(context, ConnectionContext) and context.connection_params:
                context.adopt(context.connection_params)
            unset: UnsetType = UNSET
            return unset

    LiveController.__name__ = getattr(controller, "__name__", "LiveController")
    live: Any = LiveController
    return live  # type: ignore[no-any-return]

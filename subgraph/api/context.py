"""The per-request GraphQL context: who is calling (resolved lazily) and this request's loaders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from strawberry.litestar import BaseContext

from subgraph.api.errors import Unauthenticated
from subgraph.api.loaders import Loaders
from subgraph.auth.verification import AuthenticationFailed, TokenVerifier
from subgraph.domain.access import Principal
from subgraph.ports import OrderReader, UnitOfWork


@dataclass(frozen=True)
class Services:
    """What the app factory wires once and every request shares."""

    verifier: TokenVerifier
    reads: OrderReader
    unit_of_work: Callable[[], UnitOfWork]


class Caller:
    """The request's credentials, verified on first use and remembered for the request.

    The context is built for every request, GraphiQL's GET included, so it must not demand a
    token itself: the fields that read or change orders ask for the principal.
    """

    def __init__(self, verifier: TokenVerifier, authorization: str | None) -> None:
        self._verifier = verifier
        self._authorization = authorization
        self._principal: Principal | None = None

    async def principal(self) -> Principal:
        if self._principal is None:
            try:
                self._principal = await self._verifier.verify_header(self._authorization)
            except AuthenticationFailed as error:
                raise Unauthenticated(str(error)) from None
        return self._principal


PrincipalGetter = Callable[[], Awaitable[Principal]]


class RequestContext(BaseContext, kw_only=True):
    """Strawberry's context for one request."""

    caller: Caller
    reads: OrderReader
    unit_of_work: Callable[[], UnitOfWork]
    loaders: Loaders
    known_request_id: str | None = None

    @property
    def request_id(self) -> str:
        """The caller's X-Request-Id when it looks sane, else one made up on first use.

        Only errors carry it, so a request that succeeds never pays for a new id.
        """
        if self.known_request_id is None:
            given = self.request.headers.get("x-request-id", "") if self.request else ""
            sane = 0 < len(given) <= 64 and given.replace("-", "").isalnum()
            self.known_request_id = given if sane else uuid.uuid4().hex
        return self.known_request_id


def make_context_getter(
    services: Services,
) -> Callable[[Request[Any, Any, Any]], Awaitable[RequestContext]]:
    async def get_context(request: Request[Any, Any, Any]) -> RequestContext:
        caller = Caller(services.verifier, request.headers.get("authorization"))
        return RequestContext(
            request=request,
            caller=caller,
            reads=services.reads,
            unit_of_work=services.unit_of_work,
            loaders=Loaders(reads=services.reads, principal=caller.principal),
        )

    return get_context

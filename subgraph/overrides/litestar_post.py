"""Strawberry's Litestar POST handler, with its three dependencies built inline.

Strawberry's controller gets `response`, `context` and `root_value` through Litestar's
dependency injection: a signature model and a kwargs model per dependency, an anyio task group
to resolve them concurrently, and the (empty) Response built in a worker thread
(`sync_to_thread=True`). For POST, the path every GraphQL request takes, this handler builds
the same values itself: an empty Response, Strawberry's own merge of our context with the
request and response (`_context_getter_http`), and no root value; it sets
`temporal_response` as Strawberry's handler does, for `execute_request` to copy headers and
status from. GET (the GraphiQL page) keeps Strawberry's handler.

Measured (docs/upgrading.md, `python -m bench.inprocess`, 7 paired rounds with an A/A
control): turned off, getOrder costs x1.46 the CPU per request (the run's spread 0.93-1.24).
Kept. Switch: LIBRARY_OVERRIDES name `litestar_post`; off, Strawberry's handler and Litestar's
dependency injection serve POST too.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from litestar import Controller, Request, post
from litestar.background_tasks import BackgroundTasks
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK
from strawberry.litestar.controller import _context_getter_http

C = TypeVar("C", bound=type[Controller])


def without_injection(controller: C) -> C:
    """`controller` whose POST handler skips Litestar's dependency injection."""
    dependencies: Any = getattr(controller, "dependencies", None) or {}
    custom_context_getter = dependencies["custom_context"].dependency
    members = {"handle_http_post": _post_without_injection(custom_context_getter)}
    return type(controller.__name__, (controller,), members)  # type: ignore[return-value]


def _post_without_injection(custom_context_getter: Any) -> Any:
    @post(status_code=HTTP_200_OK)
    async def handle_http_post(self: Any, request: Request[Any, Any, Any]) -> Response[Any]:
        response: Response[Any] = Response({}, background=BackgroundTasks([]))
        custom = custom_context_getter(request)
        if inspect.isawaitable(custom):
            custom = await custom
        context = await _context_getter_http(custom, response, request)
        self.temporal_response = response
        return await self.execute_request(  # type: ignore[no-any-return]
            request=request, context=context, root_value=None
        )

    return handle_http_post

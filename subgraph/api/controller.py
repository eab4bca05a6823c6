"""The Litestar controller that serves the schema at /graphql, tuned on two hot paths."""

from __future__ import annotations

import inspect
import json
from typing import Any, TypeVar

import orjson
from litestar import Controller, Request, post
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK
from strawberry.litestar.controller import _context_getter_http

C = TypeVar("C", bound=type[Controller])


def _new_response() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


class _OrjsonBodies:
    """Request and response bodies through orjson instead of the standard `json` module.

    orjson refuses some JSON the standard module reads (a lone surrogate escape such as
    "\\ud800"); such a body falls back to `json`, so it still reaches the guards that answer it
    with BAD_USER_INPUT. Malformed JSON fails both and stays a 400.
    """

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def tune_controller(controller: C) -> C:
    """Strawberry's controller with three costs taken out of every request.

    It builds each request's (empty) Response object in a worker thread
    (`sync_to_thread=True`); that is no blocking work, and the hop to the thread pool and back
    cost about a tenth of a worker's time under load. Build it on the event loop. Its
    dependencies are resolved in sequence rather than in an anyio task group (see
    `_in_sequence`). POST, the path every GraphQL request takes, skips Litestar's dependency
    injection altogether (see `_post_without_injection`). And it parses and writes JSON with
    the standard library; orjson does the same faster.
    """
    inherited = getattr(controller, "dependencies", None) or {}
    custom_context_getter = inherited["custom_context"].dependency
    dependencies = {
        **inherited,
        "response": Provide(_new_response, sync_to_thread=False),
        **_in_sequence(custom_context_getter),
    }
    members = {
        "dependencies": dependencies,
        "handle_http_post": _post_without_injection(custom_context_getter),
    }
    tuned = type(controller.__name__, (_OrjsonBodies, controller), members)
    return tuned  # type: ignore[return-value]


def _post_without_injection(custom_context_getter: Any) -> Any:
    """Strawberry's POST handler, with its three dependencies built inline.

    Resolving `response`, `context` and `root_value` through Litestar's dependency injection
    (a signature model and a kwargs model per dependency) was a tenth of a getOrder's CPU.
    The values are the same: an empty Response, Strawberry's own merge of our context with
    the request and response, and no root value.
    """

    @post(status_code=HTTP_200_OK)
    async def handle_http_post(self: Any, request: Request[Any, Any, Any]) -> Response[Any]:
        response = _new_response()
        custom = await _custom_context(custom_context_getter, request)
        context = await _context_getter_http(custom, response, request)
        self.temporal_response = response
        return await self.execute_request(  # type: ignore[no-any-return]
            request=request, context=context, root_value=None
        )

    return handle_http_post


def _in_sequence(custom_context_getter: Any) -> dict[str, Provide]:
    """Chain the handler's dependencies so that each batch Litestar resolves has one member.

    Litestar resolves independent dependencies concurrently, in an anyio task group; for the
    GraphQL handler that was a task group per request around three trivial getters (the custom
    context, the response, the root value). Made to depend on one another they resolve one
    after the other, with the same values.
    """

    async def custom_context(request: Request[Any, Any, Any], response: Response[Any]) -> Any:
        return await _custom_context(custom_context_getter, request)

    async def root_value(context: Any) -> None:
        return None

    return {"custom_context": Provide(custom_context), "root_value": Provide(root_value)}


async def _custom_context(custom_context_getter: Any, request: Request[Any, Any, Any]) -> Any:
    """Our context getter's value for `request`, whether the getter is sync or async."""
    context = custom_context_getter(request)
    return await context if inspect.isawaitable(context) else context

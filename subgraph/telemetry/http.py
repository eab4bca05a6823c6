"""The HTTP request's SERVER span, continuing the caller's W3C `traceparent`.

A plain ASGI middleware, installed only while tracing is on: one span per request, no
per-message (`http send`/`http receive`) spans. A malformed `traceparent` is ignored by the
propagator, so such a request starts a new trace; it is never an error.
"""

from __future__ import annotations

from typing import Any

from subgraph.telemetry import tracing

Scope = dict[str, Any]
ASGIApp = Any

_CARRIED = (b"traceparent", b"tracestate", b"baggage")
# Span names use the route only for the paths this service serves (bounded names).
_KNOWN_PATHS = frozenset(
    {"/graphql", "/metrics", "/health/live", "/health/ready", "/asyncapi", "/asyncapi.json"}
)


class ServerSpans:
    """ASGI middleware: each HTTP request inside a SERVER span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not tracing.ACTIVE:
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _CARRIED
        }
        # No trace headers (a caller that does not trace): nothing to extract, a new trace
        # (an empty context, as the propagator would return, without its work).
        parent = propagate.extract(carrier) if carrier else Context()
        method = scope["method"]
        path = scope["path"]
        route = path if path in _KNOWN_PATHS else None
        attributes = {"http.request.method": method, "url.path": route or "other"}
        if route:
            attributes["http.route"] = route
        status: list[int] = []

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        with tracing.tracer().start_as_current_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            await self.app(scope, receive, send_status)
            if status:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR))

"""The HTTP request's SERVER span, continuing the caller's W3C `traceparent`.

A plain ASGI middleware, installed only while tracing is on: one span per request, no
per-message (`http send`/`http receive`) spans. A malformed `traceparent` is ignored by the
propagator, so such a request starts a new trace; it is never an error.
"""

from __future__ import annotations

from typing import Any

# Imported only while tracing is on (telemetry/wiring.py), so the API is there: imported once
# here, not on every request.
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from subgraph.telemetry import tracing

Scope = dict[str, Any]
ASGIApp = Any

_CARRIED = (b"traceparent", b"tracestate", b"baggage")
# Span names use the route only for the paths this service serves (bounded names).
_KNOWN_PATHS = frozenset(
    {"/graphql", "/metrics", "/health/live", "/health/ready", "/asyncapi", "/asyncapi.json"}
)


_EMPTY = Context()


class ServerSpans:
    """ASGI middleware: each HTTP request inside a SERVER span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not tracing.ACTIVE:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _CARRIED
        }
        # No trace headers (a caller that does not trace): nothing to extract, a new trace
        # (an empty context, as the propagator would return, without its work).
        parent = propagate.extract(carrier) if carrier else _EMPTY
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

        # start_span and attach, not start_as_current_span: the same span and context without
        # its generator-based context managers (a few us a request).
        span = tracing.tracer().start_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_status)
        except Exception as error:  # as use_span records it (not GeneratorExit and the like)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            raise
        finally:
            if status:
                span.set_attribute("http.response.status_code", status[0])
                if status[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(token)

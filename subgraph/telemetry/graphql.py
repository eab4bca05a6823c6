"""The GraphQL operation, observed once per request: its span, its metrics, its access log.

`OrdersSchema.execute` calls `start` before and `finish` after each operation; Strawberry's
execution context (which knows the operation's name and type once the document is parsed) is
handed over by `OrdersSchema.create_extensions_runner` through a context variable. With
tracing, metrics and the access log all off, `start` returns None and costs one test.
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass
from typing import Any

from subgraph.telemetry import tracing

# The current request's GraphQL context (for the request id in log lines) and the finished
# operation (for the access log line uvicorn writes once the response starts).
REQUEST: contextvars.ContextVar[Any] = contextvars.ContextVar("orders_request", default=None)
OPERATION: contextvars.ContextVar[Operation | None] = contextvars.ContextVar(
    "orders_operation", default=None
)
_EXECUTION: contextvars.ContextVar[Any] = contextvars.ContextVar("orders_execution", default=None)

ACCESS_LOGGER = "uvicorn.access"


@dataclass(frozen=True)
class Operation:
    """What the access log says about a finished GraphQL operation."""

    name: str  # the bounded label: a GraphQL name, `anonymous` or `other`
    type: str
    outcome: str
    duration_ms: float


class Observation:
    """One operation being observed."""

    __slots__ = ("_observer", "_span", "_started", "_token")

    def __init__(self, observer: OperationObserver, context: Any) -> None:
        self._observer = observer
        REQUEST.set(context)
        self._span: Any = None
        self._token: Any = None
        if observer.spans:
            from opentelemetry import context as otel_context
            from opentelemetry import trace

            self._span = tracing.tracer().start_span("graphql")
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._started = time.perf_counter()

    def finish(self, result: Any) -> None:
        seconds = time.perf_counter() - self._started
        execution = _EXECUTION.get()
        name, kind = _name_and_type(execution)
        operation = observer_label(name)
        errors = getattr(result, "errors", None) if result is not None else True
        if errors is True:
            code: object = "INTERNAL_SERVER_ERROR"
        elif errors:
            code = (errors[0].extensions or {}).get("code", "INTERNAL_SERVER_ERROR")
        else:
            code = None
        from subgraph.telemetry import metrics

        outcome = metrics.outcome_label(code)
        if self._observer.metrics:
            metrics.observe_request(operation, kind, outcome, seconds)
        OPERATION.set(Operation(operation, kind, outcome, round(seconds * 1000, 2)))
        span = self._span
        if span is not None:
            from opentelemetry import context as otel_context
            from opentelemetry.trace import Status, StatusCode

            span.update_name(f"{kind} {operation}")
            span.set_attribute("graphql.operation.type", kind)
            span.set_attribute("graphql.operation.name", operation)
            if outcome != "ok":
                span.set_attribute("graphql.error.code", outcome)
                if outcome == "INTERNAL_SERVER_ERROR":
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(self._token)


def observer_label(name: str | None) -> str:
    from subgraph.telemetry import metrics

    return metrics.operation_label(name)


def _name_and_type(execution: Any) -> tuple[str | None, str]:
    if execution is None:
        return None, "unknown"
    try:
        kind = execution.operation_type.value
    except Exception:  # noqa: BLE001 - an unparsable document has no operation
        return None, "unknown"
    try:
        name = execution.operation_name
    except Exception:  # noqa: BLE001
        name = None
    return name, str(kind)


class OperationObserver:
    """Decides once, when the schema is built, what each operation costs to observe."""

    def __init__(self, *, metrics: bool, spans: bool) -> None:
        self.metrics = metrics
        self.spans = spans
        self._access = logging.getLogger(ACCESS_LOGGER)

    def start(self, context: Any) -> Observation | None:
        if not (self.metrics or self.spans or self._access.isEnabledFor(logging.INFO)):
            return None
        return Observation(self, context)

    @staticmethod
    def seen(execution_context: Any) -> None:
        """Strawberry's execution context of the current operation (its name and type)."""
        _EXECUTION.set(execution_context)


def build_observer(settings: Any) -> OperationObserver:
    return OperationObserver(
        metrics=settings.metrics_enabled,
        # Strawberry's own extension makes the operation span when resolver spans are asked for.
        spans=tracing.ACTIVE and not settings.graphql_resolver_spans,
    )


def schema_extensions(settings: Any) -> list[Any]:
    """Strawberry extensions the observability settings ask for (each costs every request)."""
    extensions: list[Any] = []
    if tracing.ACTIVE and settings.graphql_resolver_spans:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        extensions.append(OpenTelemetryExtension)
    if settings.apollo_federation_tracing:
        from strawberry.extensions.tracing.apollo_federation import (
            ApolloFederationTracingExtension,
        )

        extensions.append(ApolloFederationTracingExtension)
    return extensions

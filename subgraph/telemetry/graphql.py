"""The GraphQL operation, observed once per request: its span, its metrics, its access log.

`OrdersSchema.execute` calls `start` before and `finish` after each operation; Strawberry's
execution context (which knows the operation's name and type once the document is parsed) is
handed over by `OrdersSchema.create_extensions_runner` through a context variable. With
tracing, metrics and the access log all off, `start` returns None and costs one test.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import OperationDefinitionNode

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

    __slots__ = ("_access", "_observer", "_span", "_started", "_token")

    def __init__(self, observer: OperationObserver, context: Any, access: bool) -> None:
        self._observer = observer
        self._access = access
        REQUEST.set(context)
        if observer.started is not None:
            observer.started()
        self._span: Any = None
        self._token: Any = None
        if observer.spans:
            otel = observer.otel
            self._span = tracing.tracer().start_span("graphql")
            self._token = otel.attach(otel.set_span_in_context(self._span))
        self._started = time.perf_counter()

    def finish(self, result: Any) -> None:
        # Every request of a served process runs this: no import, no object that nobody reads
        # (the access log's Operation only when that log is on), labels from small dicts.
        seconds = time.perf_counter() - self._started
        observer = self._observer
        name, kind = _name_and_type(_EXECUTION.get())
        operation = operation_label(name)
        errors = getattr(result, "errors", None) if result is not None else True
        if errors is True:
            outcome = "INTERNAL_SERVER_ERROR"
        elif errors:
            outcome = outcome_label((errors[0].extensions or {}).get("code"))
        else:
            outcome = "ok"
        record = observer.record
        if record is not None:
            record(operation, kind, outcome, seconds)
        if self._access:
            OPERATION.set(Operation(operation, kind, outcome, round(seconds * 1000, 2)))
        span = self._span
        if span is not None:
            span.update_name(f"{kind} {operation}")
            if outcome == "ok":  # one lock and one pass over the attributes, not one each
                span.set_attributes(
                    {"graphql.operation.type": kind, "graphql.operation.name": operation}
                )
            else:
                span.set_attributes(
                    {
                        "graphql.operation.type": kind,
                        "graphql.operation.name": operation,
                        "graphql.error.code": outcome,
                    }
                )
                if outcome == "INTERNAL_SERVER_ERROR":
                    span.set_status(observer.otel.error())
            span.end()
            observer.otel.detach(self._token)


# --- bounded labels (metrics, span names, the access log) -------------------------------------

MAX_OPERATIONS = 200  # distinct operation names per process; more are counted as `other`
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,59}")
_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    """A bounded label for an operation name: `anonymous`, the name, or `other`."""
    if not name:
        return "anonymous"
    if name in _operations:
        return name
    if not _NAME.fullmatch(name):
        return "other"
    if len(_operations) >= MAX_OPERATIONS:
        return "other"
    _operations.add(name)
    return name


def outcome_label(code: object) -> str:
    """`ok` for no error, else the error's code when it has a code's shape."""
    if code is None:
        return "ok"
    if isinstance(code, str) and _CODE.fullmatch(code):
        return code
    return "INTERNAL_SERVER_ERROR"


def _name_and_type(execution: Any) -> tuple[str | None, str]:
    """The operation's name and type from the parsed document, in one pass over it (what
    Strawberry's `operation_name` and `operation_type` properties find in two)."""
    document = getattr(execution, "graphql_document", None)
    if document is None:
        return None, "unknown"
    try:
        wanted = execution.operation_name  # the one asked for, else the first one's name
    except Exception:  # noqa: BLE001 - a document without an operation has no name
        return None, "unknown"
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        node = definition.name
        if wanted is None or (node is not None and node.value == wanted):
            return (node.value if node is not None else None), definition.operation.value
    return None, "unknown"  # the operation asked for is not in the document


class _Otel:
    """OpenTelemetry's context functions, imported when the first span-making observer is
    built (the SDK stays unimported with tracing off)."""

    __slots__ = ("attach", "detach", "error_code", "set_span_in_context", "status")

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import Status, StatusCode

        self.attach = context.attach
        self.detach = context.detach
        self.set_span_in_context = trace.set_span_in_context
        self.status = Status
        self.error_code = StatusCode.ERROR

    def error(self) -> Any:
        return self.status(self.error_code)


class OperationObserver:
    """Decides once, when the schema is built, what each operation costs to observe."""

    def __init__(self, *, metrics: bool, spans: bool, batched: bool = False) -> None:
        self.metrics = metrics
        self.spans = spans
        self._access = logging.getLogger(ACCESS_LOGGER)
        # Records one finished operation in Prometheus; None with metrics off. `started`, when
        # set, is told of each operation beginning (the batches count what is in flight).
        # OpenTelemetry's functions the operation span uses, imported once (only with spans).
        self.otel: _Otel = _Otel() if spans else None  # type: ignore[assignment]
        self.record: Callable[[str, str, str, float], None] | None = None
        self.started: Callable[[], None] | None = None
        if metrics and batched:
            from subgraph.overrides.metrics_batches import BATCHES

            self.record, self.started = BATCHES.record, BATCHES.started
        elif metrics:
            from subgraph.telemetry.metrics import observe_request

            self.record = observe_request

    def start(self, context: Any) -> Observation | None:
        access = self._access.isEnabledFor(logging.INFO)
        if not (self.metrics or self.spans or access):
            return None
        return Observation(self, context, access)

    @staticmethod
    def seen(execution_context: Any) -> None:
        """Strawberry's execution context of the current operation (its name and type)."""
        _EXECUTION.set(execution_context)


def build_observer(settings: Any) -> OperationObserver:
    return OperationObserver(
        metrics=settings.metrics_enabled,
        # Strawberry's own extension makes the operation span when resolver spans are asked for.
        spans=tracing.ACTIVE and not settings.graphql_resolver_spans,
        batched=settings.override("metrics_batches"),
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

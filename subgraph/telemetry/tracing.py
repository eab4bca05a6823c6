"""Traces (OpenTelemetry), configured by the standard OTEL_* variables; off when none is set.

With tracing off, `ACTIVE` is False, the SDK is never imported, and every hook below is one
flag test on its caller's side. With tracing on:

- the HTTP request is a SERVER span continuing a W3C `traceparent` (see `telemetry.http`);
- the GraphQL operation is a span named by its type and name (see `telemetry.graphql`);
- each SQL statement is a CLIENT span with its text (placeholders, never values);
- each outbox row stores the trace context of the transaction that wrote it; the relay's
  publish span continues that trace, and FastStream's middleware puts `traceparent` (and
  `tracestate`) in the AMQP headers, so a consumer continues it too;
- the inventory consumer continues the trace of each message it handles (FastStream's
  middleware), so its transaction and the `order.updated` it causes stay in that trace.

Export is batched in a background thread with a bounded queue: an unreachable collector never
slows or fails a request, and the spans it costs are counted in
`orders_trace_spans_dropped_total`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import Tracer

    from subgraph.settings import Settings

logger = logging.getLogger("subgraph.telemetry")


class TracerProvider(Protocol):
    """What this module uses of a provider: the SDK's, or `overrides/light_spans.py`'s."""

    def get_tracer(self, instrumenting_module_name: str) -> Tracer: ...
    def add_span_processor(self, processor: Any) -> None: ...
    def force_flush(self, timeout_millis: int = 30000) -> bool: ...
    def shutdown(self) -> None: ...


SERVICE_NAME = "orders-subgraph"
TRACER_NAME = "subgraph"

# Read on hot paths: `if tracing.ACTIVE:`. Set by `configure` (or `activate`, in tests).
ACTIVE = False
_provider: TracerProvider | None = None
_tracer: Tracer | None = None
_api: Any = None  # (opentelemetry.context, opentelemetry.trace) once active: no import per span


def requested(settings: Settings) -> bool:
    """Whether the OTEL_* settings ask for traces: an exporter, or an OTLP endpoint."""
    if settings.otel_sdk_disabled:
        return False
    if settings.otel_traces_exporter is not None:
        return settings.otel_traces_exporter != "none"
    return bool(settings.otel_exporter_otlp_endpoint or settings.otel_exporter_otlp_traces_endpoint)


def configure(settings: Settings) -> bool:
    """Start this process's tracer provider once, if the settings ask for traces; True if on."""
    if _provider is not None:
        return ACTIVE
    if not requested(settings):
        return False
    from opentelemetry.sdk.resources import Resource

    provider = new_provider(
        Resource.create({"service.name": settings.otel_service_name or SERVICE_NAME}),
        sampler(settings),
        # The console exporter prints the SDK's own spans (`to_json`).
        light=settings.override("light_spans") and settings.otel_traces_exporter != "console",
    )
    provider.add_span_processor(_batch_processor(settings, _exporter(settings)))
    atexit.register(provider.shutdown)
    activate(provider)
    logger.info(
        "tracing: exporting spans (%s)",
        settings.otel_exporter_otlp_traces_protocol
        or settings.otel_exporter_otlp_protocol
        or "http/protobuf",
    )
    return True


def new_provider(resource: Any = None, sampler: Any = None, *, light: bool) -> TracerProvider:
    """A tracer provider: the SDK's, or with `light` the `light_spans` override's."""
    from opentelemetry.sdk.resources import Resource

    resource = resource if resource is not None else Resource.create({})
    if light:
        from subgraph.overrides.light_spans import LightTracerProvider

        return LightTracerProvider(resource, sampler)
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider

    return SdkProvider(resource=resource, sampler=sampler)


def activate(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (tests pass one with an in-memory exporter)."""
    global ACTIVE, _provider, _tracer, _api
    from opentelemetry import context, trace

    _api = context, trace
    _provider = provider
    _tracer = provider.get_tracer(TRACER_NAME)
    if not isinstance(trace.get_tracer_provider(), type(provider)):
        trace.set_tracer_provider(provider)  # type: ignore[arg-type] # both are API providers
    ACTIVE = True


def deactivate() -> None:
    """Stop tracing in this process (tests)."""
    global ACTIVE, _provider, _tracer
    ACTIVE = False
    _provider = None
    _tracer = None


def provider() -> TracerProvider | None:
    return _provider


def tracer() -> Tracer:
    assert _tracer is not None, "tracing is not active"
    return _tracer


def sampler(settings: Settings) -> Any:
    """The sampler OTEL_TRACES_SAMPLER names (default: parent-based, always on)."""
    from opentelemetry.sdk.trace import sampling

    name = settings.otel_traces_sampler or "parentbased_always_on"
    ratio = settings.otel_traces_sampler_arg
    ratio = 1.0 if ratio is None else ratio
    root: Any = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    protocol = (
        settings.otel_exporter_otlp_traces_protocol
        or settings.otel_exporter_otlp_protocol
        or "http/protobuf"
    )
    timeout = settings.otel_exporter_otlp_timeout
    traces_endpoint = settings.otel_exporter_otlp_traces_endpoint
    endpoint = settings.otel_exporter_otlp_endpoint
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        target = traces_endpoint or endpoint or "http://localhost:4317"
        return GrpcExporter(endpoint=target, insecure=target.startswith("http://"), timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    if settings.override("otlp_spans"):
        from subgraph.overrides.otlp_spans import FastOTLPSpanExporter as HttpExporter

    if traces_endpoint is None:
        base = (endpoint or "http://localhost:4318").rstrip("/")
        traces_endpoint = base + "/v1/traces"
    return HttpExporter(endpoint=traces_endpoint, timeout=timeout)


def _batch_processor(settings: Settings, exporter: SpanExporter) -> Any:
    """The SDK's batch processor, its drops (a full queue, a failed export) counted."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from subgraph.telemetry import metrics

    class CountingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            try:
                result = exporter.export(spans)
            except Exception:  # noqa: BLE001 - a collector's failure must stay out of requests
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                metrics.spans_dropped("export_failed", len(spans))
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    queue_size = settings.otel_bsp_max_queue_size or 2048

    class CountingProcessor(BatchSpanProcessor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The SDK's queue, to count what a full one drops (looked up once, not per span).
            self._pending = getattr(getattr(self, "_batch_processor", None), "_queue", None)

        def on_end(self, span: ReadableSpan) -> None:
            queue = self._pending
            if queue is not None and len(queue) >= queue_size:
                metrics.spans_dropped("queue_full", 1)
            super().on_end(span)

    return CountingProcessor(
        CountingExporter(),
        max_queue_size=queue_size,
        schedule_delay_millis=settings.otel_bsp_schedule_delay,
        max_export_batch_size=settings.otel_bsp_max_export_batch_size,
        export_timeout_millis=settings.otel_bsp_export_timeout,
    )


# --- SQL statements --------------------------------------------------------------------------


_operations: dict[str, str] = {}  # statement text -> its first word (a bounded set of texts)


async def statement(
    run: Callable[..., Awaitable[Any]], system: str, sql: str, args: Sequence[Any]
) -> Any:
    """`await run(sql, *args)` inside a CLIENT span carrying the statement's text, no values."""
    context, trace = _api
    operation = _operations.get(sql)
    if operation is None:
        operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
        if len(_operations) < 1000:
            _operations[sql] = operation
    # start_span and attach, not start_as_current_span: the same span, context and error
    # recording without its generator-based context managers.
    span = tracer().start_span(
        operation,
        kind=trace.SpanKind.CLIENT,
        attributes={
            "db.system.name": system,
            "db.operation.name": operation,
            "db.query.text": sql,
        },
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        return await run(sql, *args)
    except Exception as error:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        raise
    finally:
        context.detach(token)
        span.end()


# --- the outbox: a row carries its transaction's trace context --------------------------------


def current_context() -> str | None:
    """The current trace context as stored with an outbox row (W3C headers as JSON), or None."""
    if not ACTIVE:
        return None
    from opentelemetry import propagate, trace

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, separators=(",", ":")) if carrier else None


@contextlib.contextmanager
def continuing(stored: str | None) -> Iterator[None]:
    """Make the stored trace context current: what is published inside joins that trace."""
    if not ACTIVE or not stored:
        yield
        return
    from opentelemetry import context, propagate

    try:
        carrier = json.loads(stored)
    except ValueError:
        carrier = None
    if not isinstance(carrier, Mapping):
        yield
        return
    token = context.attach(propagate.extract({str(k): str(v) for k, v in carrier.items()}))
    try:
        yield
    finally:
        context.detach(token)


def broker_middleware() -> Any | None:
    """FastStream's telemetry middleware on our provider: publish and consume spans, and
    `traceparent` carried in the AMQP headers; None when tracing is off."""
    if not ACTIVE:
        return None
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return RabbitTelemetryMiddleware(tracer_provider=_provider)  # type: ignore[arg-type]


def trace_ids() -> tuple[str, str] | None:
    """The current trace and span ids (hex) for log lines, or None."""
    if not ACTIVE:
        return None
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")

"""Spans of our own in place of the OpenTelemetry SDK's, handed to the SDK's processors.

The SDK's span takes a lock on every call, validates every attribute into a `BoundedAttributes`
(another lock), calls its processors through a `SynchronousMultiSpanProcessor` and records
tracer metrics. A request's three spans (the HTTP request, the GraphQL operation, one
statement), started, made current and ended in a loop, cost 111 us with the SDK and 22 us with
these. Served, getOrder exporting every span, 6 rounds alternating with tracing off and with
the SDK's spans (`bench/results/processes-2026-12-08-light-spans.json`): req/s 0.868x of tracing
off against 0.754x with the SDK's spans (1.15x between them), the workers' CPU per request
0.86x of the SDK's. These spans implement the API's
`Span` (so FastStream's middleware, `use_span` and the propagators take them) and offer what
the SDK's `ReadableSpan` offers its readers: the batch processor, the OTLP exporters (ours in
`otlp_spans` and the SDK's), the in-memory exporter.

The same as the SDK: the sampler (any OTEL_TRACES_SAMPLER; the default parent-based always-on
and always-on decided inline, as they decide), random trace ids with the RANDOM_TRACE_ID flag, a
parent's trace state kept, `set_status` (OK is final, UNSET ignored), `record_exception`'s
event, attributes cleaned as the SDK cleans them (at most 128, the oldest dropped and counted),
an ended span immutable. Left out: the other span limits and the SDK's own tracer metrics
(neither is configured here).

Library names relied on: the SDK's processors and exporters reading a span through
`ReadableSpan`'s properties (`context`, `get_span_context()`, `parent`, `name`, `kind`,
`start_time`, `end_time`, `attributes`, `events`, `links`, `status`, `resource`,
`instrumentation_scope`, `dropped_attributes`, `dropped_events`, `dropped_links`),
`opentelemetry.sdk.trace.Event`, and `opentelemetry.attributes._clean_attribute_value` (for
values other than str, bool, int and float). Switch: LIBRARY_OVERRIDES name `light_spans`;
off, the SDK's `TracerProvider` makes every span.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

MAX_ATTRIBUTES = 128  # the SDK's default OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT
_UNSET = Status(StatusCode.UNSET)
_ROOT_FLAGS = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_DEFAULT = TraceFlags(TraceFlags.DEFAULT)
_SCALARS = (str, bool, int, float)
_getrandbits = random.getrandbits
_DEFAULT_SAMPLER = ParentBased(ALWAYS_ON)
_DEFAULT_DESCRIPTION = _DEFAULT_SAMPLER.get_description()  # type: ignore[no-untyped-call]


class LightSpan(trace.Span):
    """A recording, sampled span: the API's methods, the SDK's ReadableSpan's properties."""

    __slots__ = (
        "_attributes",
        "_events",
        "_name",
        "_status",
        "_tracer",
        "context",
        "dropped_attributes",
        "end_time",
        "kind",
        "links",
        "parent",
        "start_time",
    )

    dropped_events = 0
    dropped_links = 0

    def __init__(
        self,
        tracer: LightTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        links: Sequence[trace.Link],
        start_time: int | None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self._attributes: dict[str, Any] = {}
        self.dropped_attributes = 0
        if attributes:
            self._set(attributes)
        self.links = tuple(links)
        self._events: list[Event] = []
        self._status = _UNSET
        self.start_time = start_time if start_time is not None else time_ns()
        self.end_time: int | None = None

    # --- what the SDK's processors and exporters read (ReadableSpan) ---

    @property
    def name(self) -> str:
        return self._name

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    @property
    def status(self) -> Status:
        return self._status

    @property
    def resource(self) -> Resource:
        return self._tracer.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._tracer.scope

    def get_span_context(self) -> SpanContext:
        return self.context

    # --- the API's Span ---

    def is_recording(self) -> bool:
        return self.end_time is None

    def _set(self, attributes: Mapping[str, Any]) -> None:
        # As the SDK's BoundedAttributes keeps them: a str, bool, int or float as it is, any
        # other value cleaned by the SDK's own function; at MAX_ATTRIBUTES, the oldest dropped.
        kept = self._attributes
        for key, value in attributes.items():
            if not key or not isinstance(key, str):
                self.dropped_attributes += 1
                continue
            if type(value) not in _SCALARS:
                value = _clean_attribute_value(value, None)
            if key in kept:
                del kept[key]
            elif len(kept) >= MAX_ATTRIBUTES:
                del kept[next(iter(kept))]
                self.dropped_attributes += 1
            kept[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self.end_time is None:
            self._set(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if self.end_time is None:
            self._set({key: value})

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is None:
            self._events.append(Event(name, dict(attributes or {}), timestamp or time_ns()))

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        if self.end_time is None and context.is_valid:
            self.links = (*self.links, trace.Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}"
            if module and module != "builtins"
            else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = end_time if end_time is not None else time_ns()
        for processor in self._tracer.processors:
            processor.on_end(self)

    def __repr__(self) -> str:
        return f"LightSpan(name={self._name!r}, context={self.context!r})"


class LightTracer(trace.Tracer):
    def __init__(self, provider: LightTracerProvider, scope: InstrumentationScope) -> None:
        self.resource = provider.resource
        self.processors = provider.processors  # the provider's list: processors added later count
        self.scope = scope
        sampler = provider.sampler
        # The decisions of the default sampler (parent-based always-on: sample when the parent
        # is sampled or when there is none) and of always-on, made inline as they make them;
        # any other sampler is asked.
        description = sampler.get_description()  # type: ignore[no-untyped-call]
        self._inline: str | None = None
        if sampler is ALWAYS_ON:
            self._inline = "always"
        elif isinstance(sampler, ParentBased) and description == _DEFAULT_DESCRIPTION:
            self._inline = "parent"
        self._sampler = sampler

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            random_id = parent.trace_flags.random_trace_id
        else:
            parent = None
            trace_id = _getrandbits(128) or 1
            random_id = True
        if self._inline is not None:
            sampled = self._inline == "always" or parent is None or parent.trace_flags.sampled
            recording = sampled
            trace_state = parent.trace_state if parent is not None else None
            extra: Mapping[str, Any] | None = None
        else:
            result = self._sampler.should_sample(
                context, trace_id, name, kind, attributes, links or ()
            )
            sampled = result.decision.is_sampled()  # type: ignore[no-untyped-call]
            recording = result.decision is not Decision.DROP
            trace_state = result.trace_state
            extra = result.attributes
        if sampled:
            flags = _ROOT_FLAGS if random_id else _SAMPLED
        else:
            flags = TraceFlags(TraceFlags.RANDOM_TRACE_ID) if random_id else _DEFAULT
        span_context = SpanContext(trace_id, _getrandbits(64) or 1, False, flags, trace_state)
        if not recording:
            return NonRecordingSpan(span_context)
        if extra is not None:  # the sampler's attributes are the span's (as the SDK does)
            attributes = extra
        span = LightSpan(
            self, name, span_context, parent, kind, attributes, links or (), start_time
        )
        for processor in self.processors:
            processor.on_start(span, parent_context=context)
        return span

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class LightTracerProvider(trace.TracerProvider):
    """What `telemetry/tracing.py` uses of the SDK's TracerProvider: tracers, span processors
    (`add_span_processor`), `force_flush` and `shutdown`."""

    def __init__(self, resource: Resource, sampler: Sampler | None = None) -> None:
        self.resource = resource
        self.sampler = sampler or _DEFAULT_SAMPLER
        self.processors: list[Any] = []
        self._tracers: dict[tuple[str, str | None, str | None], LightTracer] = {}

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> LightTracer:
        key = (instrumenting_module_name, instrumenting_library_version, schema_url)
        tracer = self._tracers.get(key)
        if tracer is None:
            scope = InstrumentationScope(
                instrumenting_module_name, instrumenting_library_version, schema_url
            )
            tracer = self._tracers[key] = LightTracer(self, scope)
        return tracer

    def add_span_processor(self, processor: Any) -> None:
        self.processors.append(processor)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) is not False for p in self.processors)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

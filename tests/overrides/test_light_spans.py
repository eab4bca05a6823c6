"""`light_spans`: the same calls through the OpenTelemetry API make, span for span, what the
SDK makes: the same OTLP bytes (ids seeded alike, times given), the same sampling decisions,
ids and flags for every sampler and parent; and the service's traces go through it."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from subgraph.overrides.light_spans import MAX_ATTRIBUTES, LightSpan, LightTracerProvider
from subgraph.overrides.otlp_spans import SpanEncoder
from subgraph.settings import Settings
from subgraph.telemetry import tracing

RESOURCE = Resource.create({"service.name": "orders-subgraph"})
SAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
WITH_STATE = {"traceparent": SAMPLED, "tracestate": "vendor=opaque,other=1"}

Provider = Callable[[sampling.Sampler], tuple[trace.TracerProvider, InMemorySpanExporter]]


def sdk(sampler: sampling.Sampler) -> tuple[trace.TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE, sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def light(sampler: sampling.Sampler) -> tuple[trace.TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = LightTracerProvider(RESOURCE, sampler)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def scenario(provider: trace.TracerProvider) -> None:
    """What the service, FastStream's middleware and a failing statement do with spans."""
    tracer = provider.get_tracer("subgraph", "1.0")
    remote = TraceContextTextMapPropagator().extract(WITH_STATE)
    clock = iter(range(1_000_000_000, 2_000_000_000, 1000))
    for parent in (remote, Context()):
        server = tracer.start_span(
            "POST /graphql",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "url.path": "/graphql"},
            start_time=next(clock),
        )
        with trace.use_span(server, end_on_exit=False):
            operation = tracer.start_span("graphql", start_time=next(clock))
            with trace.use_span(operation, end_on_exit=False):
                statement = tracer.start_span(
                    "INSERT",
                    kind=SpanKind.CLIENT,
                    attributes={"db.query.text": "INSERT INTO orders VALUES ($1)", "n": 3},
                    start_time=next(clock),
                )
                try:
                    raise ValueError("duplicate key")
                except ValueError as error:
                    statement.record_exception(error, timestamp=next(clock))
                    statement.set_status(Status(StatusCode.ERROR, "ValueError: duplicate key"))
                statement.end(next(clock))
                statement.set_attribute("after.end", "ignored")
                select = tracer.start_span(
                    "SELECT",
                    kind=SpanKind.CLIENT,
                    attributes={"db.system.name": "postgresql", "db.query.text": "SELECT 1"},
                    start_time=next(clock),
                )
                select.end(next(clock))
            operation.update_name("mutation Place")
            operation.set_attributes(
                {
                    "graphql.operation.type": "mutation",
                    "ratio": 0.5,
                    "flag": True,
                    "ids": [1, 2, 3],
                    "mixed": [1, "two"],
                    "none": None,
                    "": "an empty key: dropped, counted",
                }
            )
            operation.add_event("retry", {"attempt": 2}, timestamp=next(clock))
            operation.set_status(StatusCode.OK)
            operation.set_status(StatusCode.ERROR, "ignored: OK is final")
            operation.end(next(clock))
            linked = tracer.start_span(
                "orders.placed create",
                kind=SpanKind.PRODUCER,
                links=[Link(operation.get_span_context(), {"why": "batch"})],
                start_time=next(clock),
            )
            linked.end(next(clock))
        server.set_attribute("http.response.status_code", 200)
        server.end(next(clock))


def test_the_same_calls_export_the_same_bytes() -> None:
    exported = []
    for make in (sdk, light):
        provider, memory = make(sampling.ParentBased(sampling.ALWAYS_ON))
        random.seed(20261208)  # both draw their ids from `random`, in the same order
        scenario(provider)
        exported.append(memory.get_finished_spans())
    ours, theirs = exported[1], exported[0]
    assert [s.name for s in ours] == [s.name for s in theirs]
    assert len(ours) == 10 and all(isinstance(s, LightSpan) for s in ours)
    assert encode_spans(ours).SerializeToString() == encode_spans(theirs).SerializeToString()
    # Our own encoder (the `otlp_spans` override) writes the same bytes for those it covers
    # (the others take the SDK's encoder, compared above).
    covered = [
        i
        for i, s in enumerate(ours)
        if not (s.events or s.links or s.dropped_attributes or s.context.trace_state)
    ]
    assert len(covered) == 2  # the root request's server span and its SELECT
    assert (
        SpanEncoder().encode([ours[i] for i in covered])
        == encode_spans([theirs[i] for i in covered]).SerializePartialToString()
    )
    operation = next(s for s in ours if s.name == "mutation Place")
    assert operation.dropped_attributes == 1
    assert operation.status.status_code is StatusCode.OK
    assert "after.end" not in next(s for s in ours if s.name == "INSERT").attributes


PARENTS = {
    "root": Context(),
    "sampled parent": TraceContextTextMapPropagator().extract(WITH_STATE),
    "unsampled parent": TraceContextTextMapPropagator().extract({"traceparent": UNSAMPLED}),
}
SAMPLERS = {
    "parentbased_always_on": sampling.ParentBased(sampling.ALWAYS_ON),
    "always_on": sampling.ALWAYS_ON,
    "always_off": sampling.ALWAYS_OFF,
    "parentbased_always_off": sampling.ParentBased(sampling.ALWAYS_OFF),
    "traceidratio": sampling.TraceIdRatioBased(0.5),
    "parentbased_traceidratio": sampling.ParentBased(sampling.TraceIdRatioBased(0.5)),
}


@pytest.mark.parametrize("parent", list(PARENTS))
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_decides_alike(sampler: str, parent: str) -> None:
    decided = []
    for make in (sdk, light):
        provider, memory = make(SAMPLERS[sampler])
        tracer = provider.get_tracer("subgraph")
        random.seed(8)
        spans = [tracer.start_span(f"span {i}", context=PARENTS[parent]) for i in range(40)]
        for span in spans:
            span.end()
        decided.append(
            (
                [(s.is_recording(), s.get_span_context()) for s in spans],
                [s.name for s in memory.get_finished_spans()],
            )
        )
    assert decided[1] == decided[0]
    if sampler == "always_off":
        assert decided[1][1] == []
    if sampler == "always_on":
        assert len(decided[1][1]) == 40


def test_start_as_current_span_records_an_escaping_error_and_ends() -> None:
    provider, memory = light(sampling.ALWAYS_ON)
    tracer = provider.get_tracer("faststream")
    with pytest.raises(RuntimeError), tracer.start_as_current_span("process") as span:
        assert trace.get_current_span() is span
        raise RuntimeError("broker gone")
    assert not trace.get_current_span().get_span_context().is_valid
    (finished,) = memory.get_finished_spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.events[0].attributes["exception.message"] == "broker gone"
    assert finished.end_time is not None


def test_attributes_beyond_the_limit_drop_the_oldest_as_the_sdk_does() -> None:
    kept = []
    for make in (sdk, light):
        provider, memory = make(sampling.ALWAYS_ON)
        span = provider.get_tracer("subgraph").start_span("many")
        span.set_attributes({f"a{i}": i for i in range(MAX_ATTRIBUTES + 5)})
        span.set_attribute("a9", "replaced")  # an existing key moves to the end
        span.set_attribute("b", 1)
        span.end()
        (finished,) = memory.get_finished_spans()
        kept.append((list(finished.attributes.items()), finished.dropped_attributes))
    assert kept[1] == kept[0]
    attributes, dropped = kept[1]
    assert len(attributes) == MAX_ATTRIBUTES and dropped == 6
    assert attributes[-2:] == [("a9", "replaced"), ("b", 1)]


@pytest.mark.parametrize(
    ("overrides", "exporter", "light_wanted"),
    [("all", "otlp", True), ("none", "otlp", False), ("all", "console", False)],
)
def test_configure_picks_the_provider(overrides: str, exporter: str, light_wanted: bool) -> None:
    settings = Settings(
        library_overrides=overrides,
        otel_traces_exporter=exporter,
        otel_exporter_otlp_endpoint="http://127.0.0.1:9",
    )
    try:
        assert tracing.configure(settings)
        provider = tracing.provider()
        assert isinstance(provider, LightTracerProvider) is light_wanted
        assert isinstance(provider, TracerProvider) is not light_wanted
    finally:
        provider = tracing.provider()
        if provider is not None:
            provider.shutdown()
        tracing.deactivate()

"""`otlp_spans`: the spans an export sends are, byte for byte, what the SDK's own encoder
writes for them, whatever the spans carry (the ones it does not cover go through the SDK's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from subgraph.overrides.otlp_spans import FastOTLPSpanExporter, SpanEncoder
from tests.telemetry.collector import Collector


@pytest.fixture
def collector() -> Iterator[Collector]:
    received = Collector()
    yield received
    received.close()


def spans(resource: str = "orders-subgraph", scope: str = "subgraph") -> list[ReadableSpan]:
    """Spans as the service makes them, and some with what it rarely makes."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": resource, "deployment": 3}),
        sampler=sampling.ALWAYS_ON,
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(scope, "1.2")
    remote = TraceContextTextMapPropagator().extract(
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )
    for i in range(5):
        parent = remote if i % 2 else Context()
        attributes = {"http.request.method": "POST", "url.path": "/graphql"}
        with tracer.start_as_current_span(
            "POST /graphql", context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as server:
            with tracer.start_as_current_span("query getOrder") as operation:
                operation.set_attributes(
                    {"n": i, "negative": -7 - i, "ratio": 0.25 * i, "flag": i % 2 == 0}
                )
                operation.set_attributes({"large": (1 << 62) * (1 if i % 2 else -2)})
                if i == 3:
                    operation.set_status(Status(StatusCode.ERROR, "an internal error"))
                with tracer.start_as_current_span(
                    "SELECT",
                    kind=SpanKind.CLIENT,
                    attributes={"db.query.text": f"SELECT id FROM orders -- é {i % 2}"},
                ):
                    pass
            server.set_attribute("http.response.status_code", 200 + i)
            server.set_status(StatusCode.OK if i == 4 else StatusCode.UNSET)
    return list(memory.get_finished_spans())


def test_bytes_are_the_sdk_encoders() -> None:
    batch = spans() + spans("another-service", "another-scope") + spans(scope="faststream")
    batch += spans()
    encoder = SpanEncoder()
    assert encoder.encode(batch) == encode_spans(batch).SerializePartialToString()
    assert encoder.encode(batch) == encode_spans(batch).SerializePartialToString()  # cached


def test_equal_values_of_different_types_are_each_encoded_as_the_sdk_does() -> None:
    # 1, 1.0 and True are equal (and hash alike), but an int, a double and a bool on the wire;
    # spans alike in everything else share their cached parts only when the types agree.
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampling.ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("subgraph")
    for value in (1, True, 1.0, 1, 0, False, 0.0):
        with tracer.start_as_current_span("same", attributes={"v": value}):
            pass
    batch = list(memory.get_finished_spans())
    assert SpanEncoder().encode(batch) == encode_spans(batch).SerializePartialToString()


def test_the_exporter_sends_them(collector: Collector) -> None:
    exporter = FastOTLPSpanExporter(endpoint=collector.endpoint + "/v1/traces", timeout=5)
    batch = spans()
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert collector.bodies == [encode_spans(batch).SerializePartialToString()]
    assert len(collector.spans) == len(batch) == 15
    assert {s.service for s in collector.spans} == {"orders-subgraph"}
    exporter.shutdown()


def test_what_it_does_not_cover_goes_through_the_sdk(collector: Collector) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampling.ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("subgraph")
    with tracer.start_as_current_span("with an event") as span:
        span.add_event("retry", {"attempt": 2})
    other = trace.get_current_span().get_span_context()
    with tracer.start_as_current_span("with a link", links=[Link(span.get_span_context())]):
        pass
    with tracer.start_as_current_span("with a list", attributes={"ids": [1, 2, 3]}):
        pass
    assert not other.is_valid
    exporter = FastOTLPSpanExporter(endpoint=collector.endpoint + "/v1/traces", timeout=5)
    for finished in memory.get_finished_spans():
        assert exporter.export([finished]) is SpanExportResult.SUCCESS
    assert collector.bodies == [
        encode_spans([s]).SerializePartialToString() for s in memory.get_finished_spans()
    ]
    exporter.shutdown()
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.FAILURE

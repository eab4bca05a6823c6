"""`python -m bench --observability`: its order, its environments, its ratios, its collector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import infra, observability
from bench.__main__ import main
from bench.suite import Config, Run


def summary(rps: float, cpu: float = 0.5, errors: int = 0) -> dict[str, Any]:
    return {"rps": rps, "server_cpu_ms_per_request": cpu, "errors": errors}


def test_the_modes_alternate_so_each_is_first_and_last_in_turn() -> None:
    got = observability.order(2)
    assert got == [
        (1, "both_off"),
        (1, "metrics_only"),
        (1, "tracing_and_metrics"),
        (2, "tracing_and_metrics"),
        (2, "metrics_only"),
        (2, "both_off"),
    ]


def test_each_mode_is_served_with_only_its_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bench started from a shell with tracing set up must not trace the settings without it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    stack = infra.Stack(run_id="x", database="x", dsn="postgresql://127.0.0.1/x", vhost=None)
    config = Config(1.0, 1, 0.0, 1, 2, 1, 1, 1, 0, tmp_path, ("getOrder",))
    run = Run(config, stack, tmp_path)

    off, _ = observability.mode_env(run, "both_off", "http://127.0.0.1:1")
    metrics, _ = observability.mode_env(run, "metrics_only", "http://127.0.0.1:1")
    traced, _ = observability.mode_env(run, "tracing_and_metrics", "http://127.0.0.1:1")

    for env in (off, metrics, traced):
        assert "PROMETHEUS_MULTIPROC_DIR" not in env  # `serve` makes a fresh one
    assert not [name for name in (*off, *metrics) if name.startswith("OTEL_")]
    assert (off["METRICS_ENABLED"], metrics["METRICS_ENABLED"]) == ("false", "true")
    assert traced["METRICS_ENABLED"] == "true"
    assert traced["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:1"
    assert traced["OTEL_TRACES_SAMPLER"] == "always_on"


def test_ratios_are_per_round_against_both_off_with_their_range() -> None:
    got = observability.summarise(
        {
            "both_off": [summary(1000, 0.50), summary(2000, 0.40)],
            "metrics_only": [summary(990, 0.51), summary(1900, 0.42)],
            "tracing_and_metrics": [summary(800, 0.60), summary(1800, 0.48, errors=3)],
        }
    )
    assert got["ratios"]["metrics_only"] == {
        "per_round": [0.99, 0.95],
        "median": 0.97,
        "min": 0.95,
        "max": 0.99,
    }
    assert got["ratios"]["tracing_and_metrics"]["per_round"] == [0.8, 0.9]
    assert got["cpu_ratios"]["tracing_and_metrics"]["per_round"] == [1.2, 1.2]
    assert got["modes"]["tracing_and_metrics"]["errors"] == 3
    assert "both_off" not in got["ratios"]
    printed = observability.table(got)
    assert "| metrics_only | 990, 1,900 | 0.970 (0.950..0.990) | >= 0.97 |" in printed


def test_the_collector_takes_a_real_otlp_export_and_counts_it() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    with observability.sink() as collector:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=collector.url + "/v1/traces", timeout=5)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("test").start_span("POST /graphql").end()
        provider.shutdown()
        assert collector.exports == 1
        assert collector.received > 0 and observability.spans_in(collector.first) == {
            "POST /graphql": 1
        }


def test_one_round_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--observability", "--rounds", "1"]) == 2
    assert "--rounds must be at least 2" in capsys.readouterr().err


def test_the_spans_of_an_export_are_named_and_counted() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    kept = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("test")
    for name in ("POST /graphql", "query GetOrder", "SELECT", "SELECT"):
        tracer.start_span(name).end()
    export = encode_spans(kept.get_finished_spans()).SerializeToString()
    assert observability.spans_in(export) == {"POST /graphql": 1, "query GetOrder": 1, "SELECT": 2}

"""`python -m bench --observability`: what observability costs getOrder, in one run.

Issue 16's targets are ratios to the same build with observability off: metrics on with no
OTEL_* exporter keeps >= 97 % of getOrder's throughput, metrics on plus tracing exporting
every span >= 85 %. One build, served as production serves it (`serve`, same workers and
pool), in three settings:

- `both_off`: METRICS_ENABLED=false, no OTEL_* variable (tracing off);
- `metrics_only`: METRICS_ENABLED=true, no OTEL_* variable;
- `tracing_and_metrics`: METRICS_ENABLED=true, OTEL_TRACES_SAMPLER=always_on and every span
  exported over OTLP/HTTP (protobuf) to a local collector the bench starts (`sink`), which
  reads and counts each export and keeps nothing.

This machine's speed drifts by up to 2x over hours (and other work shares its 2 cores), so
the three servers run side by side and wrk loads them in turn, in rounds (the order reversed
every other round): each round's ratios come from runs seconds apart, with no server start
between them. A
ratio's figure is the median of its per-round ratios, with their min..max as its spread; the
same for server CPU per request (the inverse: higher is costlier). Every OTEL_* and
PROMETHEUS_MULTIPROC_DIR variable of the bench's own environment is dropped, so only the
setting decides. After each tracing session the bench checks that spans did reach the
collector and reads `orders_trace_spans_dropped_total` from /metrics: a cell whose spans were
dropped did not pay for exporting them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil

from bench.compare import ratio_stats
from bench.server import Server, serve, server_env, service_command
from bench.suite import Run, wait_idle
from bench.wrk import run_wrk

CELL = "getOrder"
BASE = "both_off"
MODES: dict[str, dict[str, str]] = {
    BASE: {"METRICS_ENABLED": "false"},
    "metrics_only": {"METRICS_ENABLED": "true"},
    "tracing_and_metrics": {
        "METRICS_ENABLED": "true",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_TRACES_SAMPLER": "always_on",  # every span, not only the router's sampled ones
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    },
}
TARGETS = {"metrics_only": 0.97, "tracing_and_metrics": 0.85}  # issue 16
_DROPPED = re.compile(r'^orders_trace_spans_dropped_total\{reason="(\w+)"\} ([0-9.e+]+)$', re.M)


@dataclass
class Sink:
    """What the local collector received: OTLP export requests and their bytes."""

    url: str
    exports: int = 0
    received: int = 0  # bytes
    first: bytes = b""  # one export with request spans kept: what a span costs in bytes
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def sink() -> Iterator[Sink]:
    """A local OTLP/HTTP collector that accepts every export, counts it and keeps nothing."""
    received: Sink

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with received.lock:
                received.exports += 1
                received.received += len(body)
                if b"POST /graphql" in body and not received.first:
                    received.first = body  # one with the requests' spans, not the relay's
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received = Sink(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def spans_in(export: bytes) -> dict[str, int]:
    """Span names and counts in one OTLP/HTTP protobuf export."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(export)
    names: dict[str, int] = {}
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                names[span.name] = names.get(span.name, 0) + 1
    return names


def order(rounds: int) -> list[tuple[int, str]]:
    """(round, mode) in the order they run: the modes, then reversed, and so on."""
    modes = list(MODES)
    return [(r, mode) for r in range(1, rounds + 1) for mode in (modes if r % 2 else modes[::-1])]


def mode_env(run: Run, mode: str, collector: str) -> tuple[dict[str, str], int]:
    """The server's environment for `mode`: the bench's own OTEL_* and metrics dir dropped."""
    extra = {**run.service_env(), **MODES[mode]}
    if "OTEL_TRACES_EXPORTER" in extra:
        extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector
    env, port = server_env(extra)
    for name in list(env):
        if (name.startswith("OTEL_") or name == "PROMETHEUS_MULTIPROC_DIR") and name not in extra:
            del env[name]
    return env, port


def spans_dropped(server: Server) -> dict[str, float]:
    """`orders_trace_spans_dropped_total` by reason, read from the server's /metrics."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    return {reason: float(value) for reason, value in _DROPPED.findall(text)}


def summarise(by_mode: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mode: req/s by round; per mode against both off: req/s and CPU/request ratios."""
    base = by_mode[BASE]
    result: dict[str, Any] = {"modes": {}, "ratios": {}, "cpu_ratios": {}}
    for mode, rounds in by_mode.items():
        result["modes"][mode] = {
            "rps_by_round": [r["rps"] for r in rounds],
            "server_cpu_ms_per_request_by_round": [
                r.get("server_cpu_ms_per_request") for r in rounds
            ],
            "errors": sum(int(r["errors"]) for r in rounds),
        }
        if mode == BASE:
            continue
        result["ratios"][mode] = ratio_stats([r["rps"] for r in base], [r["rps"] for r in rounds])
        cpu_base = [r.get("server_cpu_ms_per_request") for r in base]
        cpu_mode = [r.get("server_cpu_ms_per_request") for r in rounds]
        if all(cpu_base) and all(cpu_mode):
            result["cpu_ratios"][mode] = ratio_stats(
                [float(c) for c in cpu_base if c], [float(c) for c in cpu_mode if c]
            )
    return result


def table(result: dict[str, Any]) -> str:
    """The Markdown table `--observability` prints."""

    def ratio(stats: dict[str, Any] | None) -> str:
        if not stats or stats.get("median") is None:
            return "-"
        return f"{stats['median']:.3f} ({stats['min']:.3f}..{stats['max']:.3f})"

    lines = [
        f"| {CELL} | req/s by round | req/s vs both off (min..max) | target "
        "| server CPU/request vs both off (min..max) | errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for mode, side in result["modes"].items():
        rates = ", ".join(f"{r:,.0f}" for r in side["rps_by_round"])
        target = f">= {TARGETS[mode]:.2f}" if mode in TARGETS else "-"
        lines.append(
            f"| {mode} | {rates} | {ratio(result['ratios'].get(mode))} | {target} "
            f"| {ratio(result['cpu_ratios'].get(mode))} | {side['errors']} |"
        )
    return "\n".join(lines) + "\n"


def observability_cells(run: Run, rounds: int) -> dict[str, Any]:
    """Every mode once a round for `rounds` rounds; the summary (also in run.record).

    The three servers run side by side for the whole measurement and wrk loads one at a time
    (the others idle, waited for before each run): a mode's run and the next mode's are
    seconds apart, with no server start between them, so the machine's drift (and the other
    load on it) falls on all three nearly alike.
    """
    c = run.config
    path = run.requests_file(CELL)
    by_mode: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    traced_requests: list[int] = []  # every request the tracing server answered, warm-ups too
    with sink() as collector, contextlib.ExitStack() as servers:
        served: dict[str, Server] = {}
        for mode in MODES:
            env, port = mode_env(run, mode, collector.url)
            log = run.work / f"observability-{mode}.log"
            run.log(f"observability: starting {mode}")
            served[mode] = servers.enter_context(
                serve(service_command(port, c.workers), env, "/health/ready", log, c.workers)
            )
        for mode, server in served.items():
            url = server.url + "/graphql"
            warm = run_wrk(url, path, seconds=c.warmup, connections=c.connections)
            if "OTEL_TRACES_EXPORTER" in MODES[mode]:
                traced_requests.append(warm.requests)
        for round_, mode in order(rounds):
            server = served[mode]
            for other in served.values():
                wait_idle(other)  # a tracing server exports its last batches after the load
            before = _cpu_seconds(server)
            result = run_wrk(
                server.url + "/graphql", path, seconds=c.seconds, connections=c.connections
            )
            cpu = _cpu_seconds(server) - before
            if "OTEL_TRACES_EXPORTER" in MODES[mode]:
                traced_requests.append(result.requests)
            per_request = 1000 * cpu / result.requests if result.requests else None
            by_mode[mode].append(
                {
                    "rps": result.rps,
                    "p99_ms": result.p99_ms,
                    "errors": result.errors,
                    "server_cpu_ms_per_request": round(per_request, 4) if per_request else None,
                }
            )
            run.log(
                f"round {round_}/{rounds} {mode}: {result.rps:.0f} req/s, p99 {result.p99_ms} ms,"
                f" server CPU {per_request and round(per_request, 3)} ms/request,"
                f" errors {result.errors}"
            )
        dropped = spans_dropped(served["tracing_and_metrics"])
    # Counted once the servers stopped (the last batch is exported at exit).
    exports: dict[str, Any] = {
        "exports": collector.exports,
        "bytes": collector.received,
        "spans_dropped": dropped,
    }
    if collector.first:
        # Spans a request costs: the bytes received per request served, over the bytes a span
        # takes in the export kept (all exports carry the same kinds of spans).
        names = spans_in(collector.first)
        spans = sum(names.values())
        served_requests = sum(traced_requests)
        exports["first_export_spans"] = names
        if spans and served_requests:
            per_span = len(collector.first) / spans
            exports["spans_per_request"] = round(collector.received / per_span / served_requests, 2)
    run.log(f"collector: {exports}")
    if not collector.exports:
        raise RuntimeError("no span reached the collector: the tracing mode did not export")
    summary = summarise(by_mode)
    summary.update({"cell": CELL, "rounds": rounds, "collector": exports, "targets": TARGETS})
    run.record["observability"] = summary
    return summary


def _cpu_seconds(server: Server) -> float:
    """CPU seconds of the server's processes so far (master, workers, messaging process)."""
    total = 0.0
    for process in server.processes():
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total

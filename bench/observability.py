"""The cost of observability, in one run: getOrder with tracing and metrics both off, with
metrics only (no OTEL_* exporter), and with every span exported to a local OTLP/HTTP
collector plus metrics; each as production serves it (`serve`, same workers and pool).

`python -m bench --observability` prints and records the ratios against both off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.server import serve, server_env, service_command
from bench.suite import Run

CELL = "getOrder"
MODES: dict[str, dict[str, str]] = {
    "both_off": {"METRICS_ENABLED": "false"},
    "metrics_only": {"METRICS_ENABLED": "true"},
    "tracing_and_metrics": {
        "METRICS_ENABLED": "true",
        "OTEL_TRACES_SAMPLER": "always_on",  # every span exported
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    },
}


@contextmanager
def sink() -> Iterator[str]:
    """A local OTLP/HTTP collector that accepts every export and keeps nothing."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def observability_cells(run: Run) -> dict[str, Any]:
    c = run.config
    results: dict[str, Any] = {}
    with sink() as collector:
        for mode, extra in MODES.items():
            env_extra = {**run.service_env(), **extra}
            if mode == "tracing_and_metrics":
                env_extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector
            env, port = server_env(env_extra)
            for name in [k for k in env if k.startswith("OTEL_") and k not in env_extra]:
                del env[name]
            command = service_command(port, c.workers)
            log = run.work / f"observability-{mode}.log"
            run.log(f"observability: {mode}")
            with serve(command, env, "/health/ready", log, c.workers) as server:
                results[mode] = run.wrk_cell(server, f"{CELL}[{mode}]", CELL)["summary"]
    base = results["both_off"]["rps"] or 1.0
    ratios = {mode: round(results[mode]["rps"] / base, 3) for mode in MODES}
    run.record["observability"] = {"cell": CELL, "summaries": results, "ratios": ratios}
    run.log(f"observability ratios vs both off: {ratios}")
    return ratios

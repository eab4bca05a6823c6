"""Observability settings refused by name, tracing off by default, an unreachable collector,
the log formats' redaction, and Apollo's ftv1 behind its setting."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import bearer, free_port, gql

CLI = [sys.executable, "-m", "subgraph.cli"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_an_unusable_observability_value_refuses_to_start_naming_its_variable(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = {**os.environ, variable: value, "DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}"}
    done = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert variable in done.stderr
    assert done.stderr.startswith("orders-subgraph: invalid settings:")


def test_with_no_otel_variable_tracing_is_off_and_the_sdk_never_loaded(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from subgraph.app import create_app\n"
        "from subgraph.telemetry import tracing\n"
        "create_app()\n"
        "assert not tracing.ACTIVE\n"
        "assert 'opentelemetry.sdk' not in sys.modules, 'the SDK was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'o.db'}"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_both_otlp_protocols_are_understood() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    from subgraph.settings import Settings
    from subgraph.telemetry import tracing

    grpc = tracing._exporter(
        Settings(
            otel_exporter_otlp_endpoint="http://127.0.0.1:4317", otel_exporter_otlp_protocol="grpc"
        )
    )
    http = tracing._exporter(Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318"))
    assert isinstance(grpc, Grpc)
    assert isinstance(http, Http)
    assert http._endpoint == "http://127.0.0.1:4318/v1/traces"


def test_an_unreachable_collector_neither_slows_nor_fails_requests_and_drops_are_counted(
    tmp_path: Path,
) -> None:
    port, dead = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_BSP_MAX_QUEUE_SIZE": "16",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8",
        "LOG_LEVEL": "ERROR",
    }
    env.pop("RABBITMQ_URL", None)
    with (tmp_path / "log").open("w") as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
        slowest = 0.0
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(100):
                started = time.monotonic()
                response = client.post(
                    "/graphql", json={"query": "{ getOrders { id } }"}, headers=bearer("1")
                )
                slowest = max(slowest, time.monotonic() - started)
                assert response.json() == {"data": {"getOrders": []}}
            assert slowest < 0.5  # never waits for the 1 s export timeout
            dropped: dict[str, float] = {}
            while time.monotonic() < deadline and not dropped:
                for line in client.get("/metrics").text.splitlines():
                    if line.startswith("orders_trace_spans_dropped_total{"):
                        reason = line.split('reason="', 1)[1].split('"', 1)[0]
                        dropped[reason] = float(line.rsplit(" ", 1)[1])
                time.sleep(0.2)
        # 200 spans against a queue of 16 that a dead collector never empties: the full queue
        # dropped some as they ended.
        assert dropped.get("queue_full", 0) > 0, dropped
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_both_log_formats_redact_tokens_and_authorization_everywhere_in_the_line() -> None:
    from subgraph.auth.redaction import RedactTokens
    from subgraph.telemetry.logs import JsonFormatter, TextFormatter

    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJl"
    for formatter in (JsonFormatter(), TextFormatter()):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RedactTokens())
        log = logging.getLogger(f"test.redaction.{type(formatter).__name__}")
        log.addHandler(handler)
        log.propagate = False
        try:
            raise RuntimeError(f"headers: {{'Authorization': 'Bearer opaque-secret-{token}'}}")
        except RuntimeError:
            log.exception("failed with Authorization: Bearer opaque-secret and %s", token)
        log.warning("a bearer opaque-value-123 in the text")
        text = stream.getvalue()
        assert token not in text
        assert "opaque-secret" not in text and "opaque-value-123" not in text
        if isinstance(formatter, JsonFormatter):
            lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            assert lines[0]["level"] == "ERROR" and "exception" in lines[0]


def test_asyncpg_reconnect_retries_log_one_line_and_errors_keep_their_traceback() -> None:
    """While the database is down asyncpg's pool logs each failed reconnect with a traceback;
    through our configuration it is one line naming the error (errors keep theirs)."""
    from subgraph.settings import Settings
    from subgraph.telemetry.logs import dict_config

    config = dict_config(Settings(log_format="json"))
    stream = io.StringIO()
    config["handlers"]["default"]["stream"] = stream  # the configured handler, on a buffer
    root = logging.getLogger()
    previous, level = root.handlers[:], root.level
    logging.config.dictConfig(config)
    try:
        pool, ours = logging.getLogger("asyncpg.pool"), logging.getLogger("subgraph.test")
        for log in (pool, ours):
            try:
                raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5)")
            except ConnectionRefusedError:
                if log is pool:
                    log.warning(
                        "Failed to restore the pool connection floor; retrying", exc_info=True
                    )
                else:
                    log.exception("unexpected")
    finally:
        root.handlers[:] = previous
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["logger"] == "asyncpg.pool" and lines[0]["level"] == "WARNING"
    assert lines[0]["message"] == (
        "Failed to restore the pool connection floor; retrying (ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 5))"
    )
    assert "exception" not in lines[0] and "Traceback" not in stream.getvalue().splitlines()[0]
    assert lines[1]["level"] == "ERROR" and "Traceback" in lines[1]["exception"]


FTV1 = {"apollo-federation-include-trace": "ftv1"}


async def test_ftv1_traces_are_answered_only_with_the_setting_on_and_the_header_sent(
    app_with: Any,
) -> None:
    query = "{ getOrders { id } }"
    async with app_with() as client:  # off by default
        body = await gql(client, query, headers={**bearer("1"), **FTV1})
        assert "ftv1" not in (body.get("extensions") or {})
    async with app_with(apollo_federation_tracing=True) as client:
        traced = await gql(client, query, headers={**bearer("1"), **FTV1})
        plain = await gql(client, query, headers=bearer("1"))
    assert traced["extensions"]["ftv1"]
    assert "ftv1" not in (plain.get("extensions") or {})

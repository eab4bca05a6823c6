"""The hooks `create_app`, the CLI and the messaging process call: small, one line each there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from typing import Any

from subgraph.telemetry import logs, tracing

logger = logging.getLogger("subgraph.telemetry")


def prepare(settings: Any) -> None:
    """Before the app (or the relay) is built: tracing per OTEL_*, loggers taken back."""
    tracing.configure(settings)
    logs.adopt_foreign_loggers()


def route_handlers(settings: Any) -> list[Any]:
    """GET /metrics, when METRICS_ENABLED."""
    if not settings.metrics_enabled:
        return []
    from subgraph.telemetry.metrics import metrics_route

    return [metrics_route()]


def middleware() -> list[Any]:
    """The HTTP SERVER span middleware, while tracing is on."""
    if not tracing.ACTIVE:
        return []
    from subgraph.telemetry.http import ServerSpans

    return [ServerSpans]


def start(settings: Any, engine: Any) -> asyncio.Task[None] | None:
    """In a process's lifespan, with its pool open: keep its pool gauges fresh."""
    if not settings.metrics_enabled:
        return None
    from subgraph.telemetry.metrics import sample_pool_forever

    return asyncio.create_task(sample_pool_forever(engine), name="orders-pool-metrics")


async def stop(task: asyncio.Task[None] | None) -> None:
    """At the end of the lifespan: stop sampling, drop this process's live gauges."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    from subgraph.telemetry.metrics import process_exits

    process_exits()


class MetricsDirectory:
    """`serve`'s PROMETHEUS_MULTIPROC_DIR: its children (workers, messaging process) write
    their samples there, so one scrape of any worker sees them all.

    Unset, `serve` makes a fresh one and removes it at exit; set, its old sample files are
    removed first (samples of an earlier run would be counted again).
    """

    VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

    def __init__(self) -> None:
        self.created: str | None = None

    def prepare(self, settings: Any) -> None:
        if not settings.metrics_enabled:
            return
        directory = os.environ.get(self.VARIABLE)
        if directory:
            os.makedirs(directory, exist_ok=True)
            for name in os.listdir(directory):
                if name.endswith(".db"):
                    os.remove(os.path.join(directory, name))
            return
        self.created = tempfile.mkdtemp(prefix="orders-metrics-")
        os.environ[self.VARIABLE] = self.created

    def remove(self) -> None:
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)

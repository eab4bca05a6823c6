"""Metrics (Prometheus) under one `orders_` prefix, served on GET /metrics.

With several processes (`serve --workers N` and its messaging process) prometheus-client runs
in multiprocess mode: every process writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(`serve` makes a fresh directory and hands it to its children when it is unset), and a scrape
of any worker reads them all. prometheus-client chooses its mode when it is first imported,
so this module is imported only once that variable is settled (by `create_app`, the relay).

Label values are bounded (telemetry/graphql.py makes them): operation names are GraphQL names
(at most MAX_OPERATIONS distinct ones per process, then `other`), an unnamed operation is
`anonymous`, outcomes are `ok` or an error code from a fixed shape; never ids, tokens or free
text. The names and labels are listed
in docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar import Request, get
from litestar.response import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from piccolo.engine.base import Engine

logger = logging.getLogger("subgraph.telemetry")

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
POOL_SAMPLE_SECONDS = 2.0

LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

REQUESTS = Counter(
    "orders_graphql_requests",
    "GraphQL requests by operation name, type and outcome (ok, or the first error's code).",
    ["operation", "type", "outcome"],
)
DURATION = Histogram(
    "orders_graphql_request_duration_seconds",
    "Time to execute a GraphQL operation (parse, validate, execute), by operation.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
POOL = Gauge(
    "orders_db_pool_connections",
    "Database pool connections of the live processes: state=size (open) or in_use.",
    ["state"],
    multiprocess_mode="livesum",
)
RELAY_LAG = Histogram(
    "orders_relay_publish_lag_seconds",
    "Outbox events from commit to the broker's confirm.",
    buckets=LAG_BUCKETS,
)
PUBLISHES = Counter(
    "orders_relay_publishes",
    "Outbox publishes by event type and outcome: published, returned, nacked or failed.",
    ["event_type", "outcome"],
)
INVENTORY = Counter(
    "orders_inventory_messages",
    "Inventory results by outcome: applied, duplicate, not_pending, unknown_order, refused, "
    "requeued or dead_lettered.",
    ["outcome"],
)
SPANS_DROPPED = Counter(
    "orders_trace_spans_dropped",
    "Trace spans never exported: reason=queue_full or export_failed.",
    ["reason"],
)

_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
# Called before a scrape is rendered, every POOL_SAMPLE_SECONDS and when the process stops:
# what an override keeps in the process (overrides/metrics_batches.py) is written out.
flush_hooks: list[Callable[[], None]] = []


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_VARIABLE))


def children(operation: str, kind: str, outcome: str) -> tuple[Any, Any]:
    """The request counter's and the duration histogram's children for these labels, looked
    up once per label set (`.labels()` validates and builds a key on every call)."""
    found = _children.get((operation, kind, outcome))
    if found is None:
        found = _children[operation, kind, outcome] = (
            REQUESTS.labels(operation, kind, outcome),
            DURATION.labels(operation, kind),
        )
    return found


def observe_request(operation: str, kind: str, outcome: str, seconds: float) -> None:
    """Count one GraphQL request and its duration (labels already bounded: telemetry/graphql);
    with the `metrics_batches` override on, its `Batches.record` does this instead."""
    counter, histogram = children(operation, kind, outcome)
    counter.inc()
    histogram.observe(seconds)


def flush() -> None:
    for hook in flush_hooks:
        hook()


def published(event_type: str, created_at: datetime, now: datetime | None = None) -> None:
    PUBLISHES.labels(event_type, "published").inc()
    lag = ((now or datetime.now(UTC)) - created_at).total_seconds()
    RELAY_LAG.observe(max(lag, 0.0))


def publish_failed(event_type: str, outcome: str) -> None:
    PUBLISHES.labels(event_type, outcome).inc()


def inventory(outcome: str) -> None:
    INVENTORY.labels(outcome).inc()


def spans_dropped(reason: str, count: int) -> None:
    SPANS_DROPPED.labels(reason).inc(count)


# --- the database pool ------------------------------------------------------------------------


def sample_pool(engine: Engine[Any]) -> None:
    """This process's pool: connections open and in use (PostgreSQL; SQLite has none)."""
    pool = getattr(engine, "pool", None)
    if pool is None:
        return
    size = pool.get_size()
    POOL.labels("size").set(size)
    POOL.labels("in_use").set(size - pool.get_idle_size())


async def sample_pool_forever(engine: Engine[Any]) -> None:
    """Keep this process's pool gauges fresh: a scrape reaches one worker but reports all."""
    while True:
        with contextlib.suppress(Exception):
            sample_pool(engine)
        flush()  # a worker with an operation stuck in flight still publishes what finished
        await asyncio.sleep(POOL_SAMPLE_SECONDS)


def process_exits() -> None:
    """Write what is still pending; drop this process's live gauges (the pool) from later
    scrapes."""
    flush()
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# --- scraping -----------------------------------------------------------------------------------


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


class _Ours(Collector):
    """The default registry's `orders_` families (one process: no multiprocess files)."""

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            if family.name.startswith("orders_"):
                yield family


def render(unpublished: int | None, oldest_created_at: datetime | None) -> bytes:
    """The exposition text: every process's samples, and the outbox as read just now."""
    flush()  # this process's pending counts; the others' are at most FLUSH_SECONDS behind
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Ours())
    if unpublished is not None:
        waiting = GaugeMetricFamily(
            "orders_outbox_unpublished", "Outbox events waiting to be published."
        )
        waiting.add_metric([], unpublished)
        age = GaugeMetricFamily(
            "orders_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none waits).",
        )
        age.add_metric([], _age_seconds(oldest_created_at))
        registry.register(_Families([waiting, age]))
    return generate_latest(registry)


def _age_seconds(created_at: datetime | None) -> float:
    if created_at is None:
        return 0.0
    return max((datetime.now(UTC) - created_at).total_seconds(), 0.0)


def metrics_route() -> Any:
    """GET /metrics for the app: samples of every process of this server."""
    from subgraph.persistence.outbox import OutboxStore, RetryPolicy

    @get("/metrics", include_in_schema=False)
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        engine = request.app.state.engine
        with contextlib.suppress(Exception):
            sample_pool(engine)
        unpublished, oldest = None, None
        try:
            backlog = await OutboxStore(engine, RetryPolicy(1, 1)).backlog()
        except Exception as error:  # noqa: BLE001 - the other metrics still answer
            logger.warning("metrics: outbox backlog unavailable: %s", type(error).__name__)
        else:
            unpublished, oldest = backlog.unpublished, backlog.oldest_created_at
        return Response(render(unpublished, oldest), media_type=CONTENT_TYPE_LATEST)

    return metrics

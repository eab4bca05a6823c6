"""`metrics_batches`: request metrics written in batches give the samples that writing each
request gives, and are written by the time nothing is in flight or a scrape renders."""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from subgraph.overrides.metrics_batches import Batches
from subgraph.settings import Settings
from subgraph.telemetry import metrics
from subgraph.telemetry.graphql import build_observer

DURATIONS = (0.001, 0.0025, 0.004, 0.03, 0.03, 0.7, 12.0, 0.0025)


def samples(registry: CollectorRegistry, operation: str) -> dict[str, float]:
    """`operation`'s request samples in `registry`, by name and the other labels."""
    found: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.labels.get("operation") != operation or sample.name.endswith("_created"):
                continue
            labels = sorted((k, v) for k, v in sample.labels.items() if k != "operation")
            found[sample.name + "".join(f",{k}={v}" for k, v in labels)] = sample.value
    return found


def served(operation: str) -> dict[str, float]:
    """What this process's metrics (the default registry) say of `operation`."""
    return samples(REGISTRY, operation)


def each_observed(operation: str) -> dict[str, float]:
    """The samples prometheus-client's own path gives when every request writes itself."""
    registry = CollectorRegistry()
    requests = Counter(
        "orders_graphql_requests", "", ["operation", "type", "outcome"], registry=registry
    )
    durations = Histogram(
        "orders_graphql_request_duration_seconds",
        "",
        ["operation", "type"],
        buckets=metrics.LATENCY_BUCKETS,
        registry=registry,
    )
    for seconds in DURATIONS:
        requests.labels(operation, "query", "ok").inc()
        durations.labels(operation, "query").observe(seconds)
    return samples(registry, operation)


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_writes_the_samples_each_request_would_have_written() -> None:
    operation = f"Batched{uuid.uuid4().hex}"
    batches = Batches(clock=Clock())
    for _ in DURATIONS:
        batches.started()
    for seconds in DURATIONS[:-1]:
        batches.record(operation, "query", "ok", seconds)
    # One operation still in flight and no time passed: nothing written yet.
    assert served(operation) == {}
    batches.record(operation, "query", "ok", DURATIONS[-1])  # the last one: written now
    assert served(operation) == each_observed(operation)
    assert served(operation)["orders_graphql_requests_total,outcome=ok,type=query"] == len(
        DURATIONS
    )


async def test_an_idle_process_writes_shortly_after_its_last_operation_not_at_once() -> None:
    operation = f"Idle{uuid.uuid4().hex}"
    batches = Batches(clock=Clock(), idle_flush_seconds=0.05)
    for seconds in DURATIONS:
        batches.started()
        batches.record(operation, "query", "ok", seconds)  # nothing in flight after each
    assert served(operation) == {}  # one write for all of them, from the event loop
    for _ in range(500):  # 5 s at most
        if served(operation):
            break
        await asyncio.sleep(0.01)
    assert served(operation) == each_observed(operation)


def test_a_busy_process_writes_once_flush_seconds_have_passed() -> None:
    operation = f"Busy{uuid.uuid4().hex}"
    clock = Clock()
    batches = Batches(flush_seconds=1.0, clock=clock)
    for _ in range(4):
        batches.started()  # never idle below: one stays in flight
    batches.record(operation, "query", "ok", 0.01)
    clock.now = 0.99
    batches.record(operation, "query", "ok", 0.01)
    assert served(operation) == {}
    clock.now = 1.0
    batches.record(operation, "query", "ok", 0.01)
    assert served(operation)["orders_graphql_requests_total,outcome=ok,type=query"] == 3


def test_a_scrape_writes_what_is_pending_first() -> None:
    operation = f"Scraped{uuid.uuid4().hex}"
    batches = Batches(clock=Clock())
    metrics.flush_hooks.append(batches.flush)  # as BATCHES is, when its module is imported
    try:
        batches.started()
        batches.started()
        batches.record(operation, "query", "ok", 0.01)
        assert served(operation) == {}
        text = metrics.render(None, None).decode()
        sample = (
            f'orders_graphql_requests_total{{operation="{operation}",outcome="ok",type="query"}}'
        )
        assert f"{sample} 1.0" in text
        batches.record(operation, "query", "ok", 0.01)  # the one left in flight ends
        assert served(operation)["orders_graphql_requests_total,outcome=ok,type=query"] == 2
    finally:
        metrics.flush_hooks.remove(batches.flush)


def test_the_setting_picks_the_batches_or_a_write_per_request() -> None:
    from subgraph.overrides.metrics_batches import BATCHES

    assert BATCHES.flush in metrics.flush_hooks  # scrapes, the pool sampler and exit flush it
    on = build_observer(Settings(metrics_enabled=True, library_overrides="all"))
    assert (on.record, on.started) == (BATCHES.record, BATCHES.started)
    off = build_observer(Settings(metrics_enabled=True, library_overrides="none"))
    assert (off.record, off.started) == (metrics.observe_request, None)
    none = build_observer(Settings(metrics_enabled=False, library_overrides="all"))
    assert (none.record, none.started) == (None, None)

"""`python -m bench.tracing_cost`: what tracing adds to getOrder's CPU, in one process.

Two apps of one build in one process, called through ASGI (8 requests in flight) on the
bench's seeded PostgreSQL database: one built with tracing off, one with tracing on
(OTEL_TRACES_SAMPLER=always_on, OTLP/HTTP protobuf to a local collector that counts and drops
each export). They take turns in batches of 400 requests, in a new random order each round,
and `tracing.ACTIVE` is switched with them. The batch processor is told to export nothing
during a batch (a queue and a batch of 20,000 spans, a 10 min delay); after each traced batch
`force_flush` exports its spans in this thread. So the thread CPU (`time.thread_time`) of a
batch is the request path's alone, and the flush's is the export's (encoding and POST) alone,
neither paying for GIL hand-offs between them. Per round: the request path's CPU per request
traced and untraced, and the export's; printed: medians of the per-round ratios and
differences, with min..max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from typing import Any

from bench import infra, workloads
from bench.inprocess import _cell, _requests
from bench.observability import sink

BATCH = 400
QUIET_EXPORT = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "20000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20000",
    "OTEL_BSP_SCHEDULE_DELAY": "600000",
}


async def _measure(
    requests: list[tuple[str, bytes]], collector: str, rounds: int
) -> dict[str, list[float]]:
    from subgraph.app import create_app
    from subgraph.settings import Settings
    from subgraph.telemetry import tracing

    untraced = create_app(Settings())
    os.environ.update(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
            **QUIET_EXPORT,
        }
    )
    settings = Settings()
    tracing.configure(settings)
    provider = tracing.provider()
    assert provider is not None
    apps = {"off": untraced, "on": create_app(settings)}
    found: dict[str, list[float]] = {"off": [], "on": [], "export": []}
    rng = random.Random(1)
    async with untraced.lifespan(), apps["on"].lifespan():
        for label, app in apps.items():  # warm-up
            tracing.ACTIVE = label == "on"
            await _cell(app, requests, 64)
        provider.force_flush()
        for round_ in range(rounds):
            order = list(apps)
            rng.shuffle(order)
            for label in order:
                tracing.ACTIVE = label == "on"
                started = time.thread_time()
                await _cell(apps[label], requests, BATCH)
                found[label].append(1e6 * (time.thread_time() - started) / BATCH)
                if label == "on":
                    started = time.thread_time()
                    provider.force_flush()
                    found["export"].append(1e6 * (time.thread_time() - started) / BATCH)
            print(
                f"round {round_ + 1}: off {found['off'][-1]:.1f}, on {found['on'][-1]:.1f},"
                f" export {found['export'][-1]:.1f} us/request",
                file=sys.stderr,
            )
    tracing.ACTIVE = True
    return found


def _spread(values: list[float], digits: int) -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}..{high:.{digits}f})"


def report(found: dict[str, list[float]]) -> str:
    off, on, export = found["off"], found["on"], found["export"]
    path = [b - a for a, b in zip(off, on, strict=True)]
    total = [b + e - a for a, b, e in zip(off, on, export, strict=True)]
    ratio = [(b + e) / a for a, b, e in zip(off, on, export, strict=True)]
    return "\n".join(
        [
            "| getOrder, in-process, thread CPU | us/request (min..max) |",
            "|---|---:|",
            f"| untraced request | {_spread(off, 1)} |",
            f"| traced request, request path | {_spread(on, 1)} |",
            f"| added by tracing: request path | {_spread(path, 1)} |",
            f"| added by tracing: export (encode + POST) | {_spread(export, 1)} |",
            f"| added by tracing: total | {_spread(total, 1)} |",
            f"| traced / untraced CPU | {_spread(ratio, 3)} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with infra.stack() as stack:
        secret = "bench-" + stack.run_id * 8
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                del os.environ[name]
        os.environ.update({**infra.production_env(stack.dsn, secret), "METRICS_ENABLED": "false"})
        os.environ.pop("RABBITMQ_URL", None)
        infra.migrate({**os.environ})
        top = asyncio.run(infra.seed(stack.dsn, users=2000, orders_per_user=10))
        requests = _requests(
            "getOrder", workloads.Seed(users=2000, orders=top), workloads.Tokens(secret)
        )
        with sink() as collector:
            found: Any = asyncio.run(_measure(requests, collector.url, args.rounds))
    print(report(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

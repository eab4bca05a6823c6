"""The service's cells: started as production runs it, loaded by wrk, watched for relay lag."""

from __future__ import annotations

import time
from typing import Any

from bench import report
from bench.cpu import rss_mb
from bench.relay import RelayWatcher
from bench.server import Server, serve, server_env, service_command
from bench.suite import Run, now, wait_idle
from bench.wrk import run_wrk

RELAY_DRAIN_SECONDS = 5


def service_cells(run: Run) -> None:
    c = run.config
    env, port = server_env(run.service_env())
    command = service_command(port, c.workers)
    run.log(f"service: {' '.join(command[1:])} (APP_ENV=production, JWT auth on)")
    log = run.work / "service.log"
    with (
        serve(command, env, "/health/ready", log, c.workers) as server,
        RelayWatcher(run.stack.dsn, run.stack.amqp_url) as relay,
    ):
        run.record["workers_pids"] = [p.pid for p in server.workers()]
        for cell in c.cells:
            if cell == "placeOrder":
                place_order_with_relay(run, server, relay)
            else:
                run.record["cells"][cell] = run.wrk_cell(server, cell, cell)
            if cell.startswith("entities"):
                run.record["cells"][cell]["unloaded"] = unloaded_latency(run, server, cell)
        if c.rss_requests:
            run.record["rss"] = rss_check(run, server)
    run.record["service_log_tail"] = log.read_text(errors="replace")[-3000:]


def place_order_with_relay(run: Run, server: Server, relay: RelayWatcher) -> None:
    """placeOrder flat out; the relay's lag and the outbox backlog over the same window."""
    started_at, started = now(), time.monotonic()
    run.record["cells"]["placeOrder"] = run.wrk_cell(server, "placeOrder", "placeOrder")
    ended_at, ended = now(), time.monotonic()
    time.sleep(RELAY_DRAIN_SECONDS)  # rows placed in the last moment get their chance
    outbox = relay.outbox_lags(started_at, ended_at)
    consumer = relay.consumer_lags(started_at, ended_at)
    relay_seen = bool(outbox.get("published")) or bool(consumer)
    cell: dict[str, Any] = {
        "outbox_table": relay.table,
        "outbox": outbox,
        "max_backlog": relay.max_backlog(started, ended),
        "backlog_after_drain": relay.backlog[-1][1] if relay.backlog else None,
        "consumer_events": len(consumer),
        "consumer_p50_ms": report.percentile(consumer, 50),
        "consumer_p99_ms": report.percentile(consumer, 99),
        "consumer_error": relay.consumer_error,
    }
    if not run.stack.amqp_url:
        cell["status"] = "n/a: no RabbitMQ vhost for this run"
    elif not relay_seen:
        cell["status"] = "n/a: no relay in this build (outbox rows stay unpublished)"
    else:
        cell["status"] = "measured"
    run.record["relay"] = cell
    run.log(f"relay: {cell['status']}; outbox {outbox}; backlog max {cell['max_backlog']}")


def unloaded_latency(run: Run, server: Server, cell: str) -> dict[str, Any]:
    """One connection, nothing else running: the latency a single request pays."""
    seconds = max(5.0, run.config.seconds / 2)
    path = run.requests_file(cell)
    wait_idle(server)
    result = run_wrk(server.url + "/graphql", path, seconds=seconds, connections=1)
    if not result.requests:
        return {"p50_ms": None, "p99_ms": None, "errors": result.errors, "requests": 0}
    return {
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "requests": result.requests,
    }


def rss_check(run: Run, server: Server) -> dict[str, Any]:
    """Worker RSS after a first and a second run of `rss_requests` mixed requests."""
    url, path = server.url + "/graphql", run.requests_file("rss_mix")
    workers = server.workers()
    points: dict[str, Any] = {"before": rss_mb(workers)}
    for label in ("after_first", "after_second"):
        served, errors = 0, 0
        while served < run.config.rss_requests:
            result = run_wrk(url, path, seconds=10, connections=run.config.connections)
            served += result.requests
            errors += result.errors
        points[label] = rss_mb(workers)
        points[f"{label}_requests"] = served
        points[f"{label}_errors"] = errors
        run.log(f"rss {label}: {points[label]} MiB after {served} requests")
    growth = [
        round(100 * (b - a) / a, 1)
        for a, b in zip(points["after_first"], points["after_second"], strict=False)
    ]
    points["growth_pct"] = growth
    return points

"""The whole run: floors, then the service cell by cell, then the memory check."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import floors, infra, report, workloads
from bench.cpu import CpuMeter, Snapshot
from bench.server import Server, raw_app_command, serve, server_env
from bench.wrk import run_wrk

CELLS = (
    "placeOrder",
    "updateOrder",
    "getOrder",
    "getOrders",
    "typename",
    "entities_user_1",
    "entities_user_50",
    "entities_user_1000",
    "entities_order_1000",
)
LATENCY_CELLS = ("entities_user_1", "entities_user_1000", "entities_order_1000")
RSS_MIX = ("getOrder", "getOrders", "entities_user_1", "placeOrder")


@dataclass(frozen=True)
class Config:
    seconds: float
    repeats: int
    warmup: float
    connections: int
    workers: int
    pool_size: int
    users: int
    orders_per_user: int
    rss_requests: int
    results_dir: Path
    cells: tuple[str, ...]
    skip_floors: bool = False


class Run:
    """Shared state of one run: the stack, tokens, request files and the record being built."""

    def __init__(self, config: Config, stack: infra.Stack, work: Path) -> None:
        self.config = config
        self.stack = stack
        self.work = work
        self.secret = secrets.token_urlsafe(48)
        self.tokens = workloads.Tokens(self.secret)
        self.rng = random.Random(6)
        self.seed = workloads.Seed(users=config.users, orders=0)
        self.cpu: dict[str, dict[str, float]] = {}
        self.record: dict[str, Any] = {"floors": {}, "cells": {}, "cpu": self.cpu}

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def service_env(self) -> dict[str, str]:
        env = {
            **infra.production_env(self.stack.dsn, self.secret),
            "DB_POOL_MAX_SIZE": str(self.config.pool_size),
        }
        if self.stack.amqp_url:
            env["RABBITMQ_URL"] = self.stack.amqp_url
        return env

    def requests_file(self, cell: str) -> Path:
        path = self.work / f"{cell}.txt"
        if not path.exists():
            if cell == "rss_mix":
                lines = [
                    line
                    for part in RSS_MIX
                    for line in workloads.cell_lines(part, self.seed, self.tokens, self.rng)
                ]
                self.rng.shuffle(lines)
            else:
                lines = workloads.cell_lines(cell, self.seed, self.tokens, self.rng)
            workloads.write_lines(path, lines)
        return path

    def wrk_cell(self, server: Server, name: str, cell: str) -> dict[str, Any]:
        """Warm up, then `repeats` measured wrk runs, with the CPU split of each."""
        c = self.config
        url = server.url + "/graphql"
        path = self.requests_file(cell)
        meter = CpuMeter(lambda: {p.pid for p in server.processes()})
        run_wrk(url, path, seconds=c.warmup, connections=c.connections)
        reps, splits = [], []
        for _ in range(c.repeats):
            wait_idle(server)
            start = meter.snapshot()
            result = run_wrk(url, path, seconds=c.seconds, connections=c.connections)
            splits.append(CpuMeter.split(start, meter.snapshot(), result.cpu_seconds))
            reps.append(
                {
                    "rps": result.rps,
                    "p50_ms": result.p50_ms,
                    "p90_ms": result.p90_ms,
                    "p99_ms": result.p99_ms,
                    "max_ms": result.max_ms,
                    "errors": result.errors,
                    "requests": result.requests,
                    "error_sample": result.error_sample or None,
                }
            )
        self.cpu[name] = _mean_split(splits)
        summary = report.summarise(reps)
        # Server CPU per request: the efficiency figure that other load on the machine moves
        # least (req/s and latency move with whatever else runs).
        if summary["rps"]:
            per_request = self.cpu[name]["server"] / 100 / summary["rps"] * 1000
            summary["server_cpu_ms_per_request"] = round(per_request, 2)
        self.log(
            f"{name}: {summary['rps']:.0f} req/s, p50 {summary['p50_ms']} ms, "
            f"p99 {summary['p99_ms']} ms, errors {summary['errors']}, "
            f"server CPU {summary.get('server_cpu_ms_per_request')} ms/request"
        )
        return {"summary": summary, "reps": reps}

    def floor_a(self, section: str = "floors") -> None:
        env, port = server_env({})
        command = raw_app_command(port, self.config.workers)
        self.log("floor (a): raw ASGI app under uvicorn")
        with serve(command, env, "/", self.work / "raw_app.log", self.config.workers) as server:
            name = "floor_a_http" + _SUFFIX[section]
            self.record[section]["a_http"] = self.wrk_cell(server, name, "getOrder")

    def db_floor(
        self, key: str, kind: str, params: dict[str, Any], section: str = "floors"
    ) -> None:
        self.log(f"floor {key}{_SUFFIX[section]}: raw {kind}")
        meter = CpuMeter(lambda: set())
        marks: dict[int, Snapshot] = {}
        splits: list[dict[str, float]] = []
        cpu_by_rep: list[float] = []

        def on_rep(i: int, edge: str) -> None:
            if edge == "start":
                marks[i] = meter.snapshot()
            else:
                splits.append(CpuMeter.split(marks[i], meter.snapshot(), 0.0))

        reps = floors.run_floor(kind, params, processes=self.config.workers, on_rep=on_rep)
        rows = []
        for rep, split in zip(reps, splits, strict=True):
            cpu_by_rep.append(rep.cpu_seconds)
            # The clients are this machine's load generator for the floor.
            split["loadgen"] = round(100 * rep.cpu_seconds / self.config.seconds, 1)
            split["other"] = max(0.0, round(split["other"] - split["loadgen"], 1))
            rows.append(
                {
                    "rps": rep.ops / self.config.seconds,
                    "p50_ms": report.percentile(rep.latencies_ms, 50),
                    "p99_ms": report.percentile(rep.latencies_ms, 99),
                    "errors": rep.errors,
                    "requests": rep.ops,
                }
            )
        self.cpu[f"floor_{key}{_SUFFIX[section]}"] = _mean_split(splits)
        summary = report.summarise(rows)
        self.log(
            f"floor {key}{_SUFFIX[section]}: {summary['rps']:.0f} ops/s, p50 {summary['p50_ms']} ms"
        )
        self.record[section][key] = {"summary": summary, "reps": rows}

    def floors(self) -> None:
        base = self._ratio_floors("floors")
        asyncio.run(infra.forget_floor_writes(self.stack.dsn, self.seed.orders))
        if self.stack.amqp_url:
            # One batch in flight per client, as a relay loop publishes: batch, confirms, next.
            publish = {**base, "amqp_url": self.stack.amqp_url, "concurrency": 1}
            self.db_floor("d_publish", "publish", publish)
        else:
            self.record["floors"]["d_publish"] = {"summary": None, "note": "no RabbitMQ vhost"}
        sizes = sorted({int(c.rsplit("_", 1)[1]) for c in self.config.cells if "entities" in c})
        if sizes:
            self.log(f"floor (e): the _entities SQL alone, batches of {sizes}, 1 connection")
            self.record["floors"]["e_entities"] = asyncio.run(
                floors.entity_statements(
                    self.stack.dsn,
                    users=self.seed.users,
                    orders=self.seed.orders,
                    sizes=tuple(sorted({1, *sizes})),
                )
            )

    def floors_again(self) -> None:
        """The floors of the ratio targets once more, after the service's cells.

        This machine's speed drifts by 10-20% over minutes (the same cell measured 2,100 and
        2,540 req/s ten seconds apart); a floor measured only before the service would put
        that drift into every ratio. verdict.py divides by the mean of both passes.
        """
        self.record["floors_after"] = {}
        self._ratio_floors("floors_after")

    def _ratio_floors(self, section: str) -> dict[str, Any]:
        """Floors (a), (c) and (b), the ones the ratios divide by; returns their parameters."""
        base = self._floor_params()
        self.floor_a(section)
        self.db_floor("c_get", "get", base, section)
        self.db_floor("c_page", "page", base, section)
        self.db_floor("b_place", "place", base, section)
        return base

    def _floor_params(self) -> dict[str, Any]:
        c = self.config
        return {
            "dsn": self.stack.dsn,
            "pool_size": c.pool_size,
            "users": self.seed.users,
            "orders": self.seed.orders,
            "concurrency": c.connections // c.workers,
            "warmup": c.warmup,
            "seconds": c.seconds,
            "repeats": c.repeats,
        }


_SUFFIX = {"floors": "", "floors_after": " (after)"}


def wait_idle(server: Server, limit_s: float = 60.0) -> None:
    """Wait until the server has finished what the last wrk run left behind.

    wrk stops at its deadline with requests in flight; the server still completes them. For
    slow cells (1000 representations) that is seconds of CPU that would be billed to the
    next run.
    """
    # Idle: under 10% of a core (0.025 CPU-s per 0.25 s) for two samples in a row.
    deadline = time.monotonic() + limit_s
    previous = _server_cpu(server)
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.25)
        now_cpu = _server_cpu(server)
        quiet = quiet + 1 if now_cpu - previous < 0.025 else 0
        previous = now_cpu


def _server_cpu(server: Server) -> float:
    total = 0.0
    for p in server.processes():
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _mean_split(splits: list[dict[str, float]]) -> dict[str, float]:
    keys = splits[0].keys() if splits else ()
    return {k: round(sum(s[k] for s in splits) / len(splits), 1) for k in keys}


def now() -> datetime:
    return datetime.now(UTC)

"""`python -m bench.processes`: configurations of this build served in alternation, and where
each request's CPU goes, process by process.

`--compare` says that a build is slower; this says which process pays. Each configuration is
the working tree's `serve --workers 2` (with RabbitMQ, the relay watched and a queue bound, as
`--compare` runs it) under an environment of its own, and optionally a SQL statement run
before it is served. Each round serves every configuration once: wrk's warm-up, then a
measured run of one cell, with CPU seconds read per process. A line per configuration and
round gives req/s, then CPU microseconds per request of each worker, the rest of the server's
processes (the messaging process and the supervisor), PostgreSQL and RabbitMQ, the workers'
split of the window (cores busy), and the outbox's unpublished rows at the end.

    .venv/bin/python -m bench.processes --cell getOrder \\
        --config 'shared socket: LIBRARY_OVERRIDES=executor,document_cache' \\
        --config 'default:'

A configuration is `label: NAME=value; NAME=value; sql=STATEMENT` (all optional but the
label). The lines go to stdout and, as JSON, to `--output`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench import infra
from bench.cpu import cpu_seconds, service_group
from bench.relay import RelayWatcher
from bench.server import Server, serve, server_env
from bench.suite import CELLS, Config, Run
from bench.wrk import run_wrk


@dataclass(frozen=True)
class Configuration:
    label: str
    env: dict[str, str] = field(default_factory=dict)
    sql: str | None = None


def parse_configuration(text: str) -> Configuration:
    """`label: NAME=value; NAME=value; sql=STATEMENT` -> Configuration."""
    label, _, rest = text.partition(":")
    if not label.strip():
        raise ValueError(f"a configuration needs a label: {text!r}")
    env: dict[str, str] = {}
    sql = None
    for part in filter(None, (p.strip() for p in rest.split(";"))):
        name, equals, value = part.partition("=")
        if not equals:
            raise ValueError(f"expected NAME=value, got {part!r}")
        if name.strip() == "sql":
            sql = value.strip()
        else:
            env[name.strip()] = value.strip()
    return Configuration(label.strip(), env, sql)


def _role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    return f"worker {process.pid}" if "spawn_main" in command else "server, other"


def cpu_by_process(server: Server) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every server process, PostgreSQL backend and RabbitMQ process.

    A worker's is split: its event loop's thread (keyed by its pid), and its other threads
    together (keyed by minus its pid: the span exporter, asyncio's executor, aiosqlite...).
    """
    seen: dict[int, tuple[str, float]] = {}
    for process in server.processes():
        with contextlib.suppress(psutil.Error):
            role = _role(process)
            total = cpu_seconds(process)
            if role.startswith("worker"):
                loop = sum(
                    t.user_time + t.system_time for t in process.threads() if t.id == process.pid
                )
                seen[-process.pid] = (f"{role} threads", max(total - loop, 0.0))
                total = loop
            seen[process.pid] = (role, total)
    for process in psutil.process_iter(["name"]):
        group = service_group(process.info["name"] or "")
        if group and process.pid not in seen:
            with contextlib.suppress(psutil.Error):
                seen[process.pid] = (group, cpu_seconds(process))
    return seen


def per_request(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """Microseconds of CPU per request by role, over processes alive at both ends."""
    spent: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        if pid in before:
            spent[role] = spent.get(role, 0.0) + seconds - before[pid][1]
    return {role: round(1e6 * s / max(requests, 1), 1) for role, s in sorted(spent.items())}


async def _sql(dsn: str, statement: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval(statement))
    finally:
        await connection.close()


PENDING = "SELECT count(*) FILTER (WHERE published_at IS NULL) || '/' || count(*) FROM order_outbox"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.processes", description=__doc__)
    parser.add_argument("--config", action="append", required=True, type=parse_configuration)
    parser.add_argument("--cell", choices=CELLS, default="getOrder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    config = Config(
        seconds=args.seconds,
        repeats=1,
        warmup=args.warmup,
        connections=args.connections,
        workers=2,
        pool_size=16,
        users=2000,
        orders_per_user=5,
        rss_requests=0,
        results_dir=Path(tempfile.gettempdir()),
        cells=(args.cell,),
        skip_floors=True,
    )
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="orders-bench-") as tmp, infra.stack() as stack:
        run = Run(config, stack, Path(tmp))
        infra.migrate({**os.environ, **run.service_env()})
        top = asyncio.run(infra.seed(stack.dsn, users=config.users, orders_per_user=5))
        run.seed = type(run.seed)(users=config.users, orders=top)
        requests = run.requests_file(args.cell)
        for round_no in range(1, args.rounds + 1):
            for configuration in args.config:
                if configuration.sql:
                    asyncio.run(_sql(stack.dsn, configuration.sql))
                env, port = server_env({**run.service_env(), **configuration.env})
                command = [infra.cli_path(), "serve", "--workers", "2", "--port", str(port)]
                command.append("--no-migrate")
                log = Path(tmp) / f"serve-{round_no}.log"
                with (
                    serve(command, env, "/health/ready", log, config.workers) as server,
                    RelayWatcher(stack.dsn, stack.amqp_url),
                ):
                    url = server.url + "/graphql"
                    run_wrk(url, requests, seconds=args.warmup, connections=args.connections)
                    time.sleep(1)
                    before, started = cpu_by_process(server), time.monotonic()
                    result = run_wrk(
                        url, requests, seconds=args.seconds, connections=args.connections
                    )
                    after, wall = cpu_by_process(server), time.monotonic() - started
                line = {
                    "round": round_no,
                    "config": configuration.label,
                    "rps": round(result.rps),
                    "errors": result.errors,
                    "us_per_request": per_request(before, after, result.requests),
                    "worker_cores": sorted(
                        round((after[p][1] - before[p][1]) / wall, 2)
                        for p in after
                        if p in before and after[p][0].startswith("worker")
                    ),
                    "outbox_unpublished_of_all": asyncio.run(_sql(stack.dsn, PENDING)),
                }
                lines.append(line)
                shares = "  ".join(f"{k}={v:.0f}" for k, v in line["us_per_request"].items())
                print(
                    f"round {round_no} {configuration.label}: {line['rps']} req/s, "
                    f"errors {line['errors']}; us/request: {shares}; worker cores "
                    f"{line['worker_cores']}; outbox {line['outbox_unpublished_of_all']}",
                    flush=True,
                )
    if args.output:
        args.output.write_text(json.dumps({"cell": args.cell, "lines": lines}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from bench.compare import signals_interrupt

    with signals_interrupt():  # SIGTERM stops the server it started, as Ctrl-C does
        sys.exit(main())

"""`python -m bench.inprocess`: the app-level library overrides, each off against all on, by the
CPU one request costs the serving process.

The HTTP cells of `python -m bench --overrides` measure req/s through uvicorn, which other load
on this machine moves by tens of percent; the process's own CPU time per request moves far
less. Here the Litestar apps of every configuration (LIBRARY_OVERRIDES = all, all but one,
none) live in one process and are called through ASGI, 8 requests in flight, on the bench's
seeded PostgreSQL database. Configurations take turns in short batches, in a new random order
each time, so the machine's drift falls on all of them alike; a round sums each
configuration's batches. A cell's figure is the median over the rounds of CPU ms per request,
and its ratio to `all` is taken round by round (paired: the same round saw the same load). A
second, identical `all` (`all again`) is the control: the range of its per-round ratios is
this run's spread. An override moves a cell when its median ratio lies outside that range.
An override below the app (in uvicorn) would be measured by `python -m bench --overrides
--floor` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from typing import Any

from bench import infra, workloads

CELLS = ("getOrder", "getOrders", "placeOrder", "entities_user_50", "entities_order_1000")
IN_FLIGHT = 8


def _requests(cell: str, seed: workloads.Seed, tokens: workloads.Tokens) -> list[tuple[str, bytes]]:
    lines = workloads.cell_lines(cell, seed, tokens, random.Random(cell))
    return [(token, body.encode()) for token, body in lines]


async def _call(app: Any, token: str, body: bytes) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
    }
    sent = False
    answer: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(answer)


async def _cell(app: Any, requests: list[tuple[str, bytes]], count: int) -> tuple[float, int]:
    """CPU ms per request over `count` requests, IN_FLIGHT at a time; and the errors seen."""
    queue = [requests[i % len(requests)] for i in range(count)]
    errors = 0

    async def worker(mine: list[tuple[str, bytes]]) -> None:
        nonlocal errors
        for token, body in mine:
            answer = await _call(app, token, body)
            if b'"errors"' in answer or b'"success":false' in answer:
                errors += 1

    started = time.process_time()
    await asyncio.gather(*(worker(queue[i::IN_FLIGHT]) for i in range(IN_FLIGHT)))
    return 1000 * (time.process_time() - started) / count, errors


async def _measure(
    configs: dict[str, str],
    cells: dict[str, list[tuple[str, bytes]]],
    batches: dict[str, int],
    rounds: int,
    turns: int,
) -> tuple[dict[str, dict[str, list[float]]], dict[str, int]]:
    """Per configuration and cell, CPU ms per request of each round; errors per configuration."""
    from subgraph.app import create_app
    from subgraph.settings import Settings

    settings = {label: Settings(library_overrides=value) for label, value in configs.items()}
    apps = {label: create_app(settings[label]) for label in configs}  # each its own app
    cpu = {label: {cell: [] for cell in cells} for label in configs}  # type: ignore[var-annotated]
    errors = dict.fromkeys(configs, 0)
    rng = random.Random(7)
    # One lifespan opens the shared engine's pool; the apps differ only in their overrides.
    async with apps["all"].lifespan():
        for app in apps.values():  # warm-up: every cell once through every app
            for requests in cells.values():
                await _cell(app, requests, IN_FLIGHT)
        for round_ in range(rounds):
            for cell, requests in cells.items():
                spent = dict.fromkeys(configs, 0.0)
                for _ in range(turns):
                    order = list(configs)
                    rng.shuffle(order)
                    for label in order:
                        ms, errs = await _cell(apps[label], requests, batches[cell])
                        spent[label] += ms
                        errors[label] += errs
                for label in configs:
                    cpu[label][cell].append(spent[label] / turns)
            print(
                f"[inprocess {time.strftime('%H:%M:%S')}] round {round_ + 1}: "
                + "; ".join(
                    f"{label} " + " ".join(f"{cpu[label][c][-1]:.3f}" for c in cells)
                    for label in configs
                ),
                file=sys.stderr,
                flush=True,
            )
    return cpu, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=5, help="batches per configuration a round")
    parser.add_argument("--scale", type=float, default=1.0, help="requests per batch, times")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--output", help="JSON path")
    args = parser.parse_args(argv)
    from subgraph.overrides import OVERRIDES

    names = list(OVERRIDES)
    configs = {"all": "all", "all again": "all"}
    configs.update({f"-{n}": ",".join(o for o in OVERRIDES if o != n) for n in names})
    configs["none"] = "none"
    base_counts = {
        "getOrder": 200,
        "getOrders": 160,
        "placeOrder": 80,
        "entities_user_50": 16,
        "entities_order_1000": 8,
    }
    counts = {c: max(4, int(base_counts[c] * args.scale)) for c in args.cells}
    with infra.stack() as stack:
        secret = "bench-" + stack.run_id * 8
        env = infra.production_env(stack.dsn, secret)
        os.environ.update(env)
        os.environ.pop("RABBITMQ_URL", None)
        os.environ.pop("LIBRARY_OVERRIDES", None)
        infra.migrate({**os.environ})
        top = asyncio.run(infra.seed(stack.dsn, users=2000, orders_per_user=10))
        seed = workloads.Seed(users=2000, orders=top)
        tokens = workloads.Tokens(secret)
        cells = {cell: _requests(cell, seed, tokens) for cell in args.cells}
        print(f"database {stack.database}; seeded {top} orders", file=sys.stderr)
        cpu, errors = asyncio.run(_measure(configs, cells, counts, args.rounds, args.turns))
    table = _table(cpu)
    print(_markdown(table, errors))
    if args.output:
        with open(args.output, "w") as out:
            json.dump(
                {
                    "configs": configs,
                    "counts": counts,
                    "cpu": cpu,
                    "table": table,
                    "errors": errors,
                },
                out,
                indent=1,
            )
    return 0


def _table(cpu: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for label, by_cell in cpu.items():
        table[label] = {}
        for cell, values in by_cell.items():
            ratios = [v / b for v, b in zip(values, cpu["all"][cell], strict=True)]
            control = [v / b for v, b in zip(cpu["all again"][cell], cpu["all"][cell], strict=True)]
            median = statistics.median(values)
            table[label][cell] = {
                "ms": round(median, 3),
                "spread_pct": round(100 * (max(values) - min(values)) / median, 1),
                "ratio_to_all": round(statistics.median(ratios), 3),
                "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
                "control_range": [round(min(control), 3), round(max(control), 3)],
                "moves": not min(control) <= statistics.median(ratios) <= max(control),
            }
    return table


def _markdown(table: dict[str, dict[str, dict[str, Any]]], errors: dict[str, int]) -> str:
    cells = list(next(iter(table.values())))
    lines = [
        "| configuration | " + " | ".join(cells) + " | errors |",
        "|---|" + "---:|" * (len(cells) + 1),
    ]
    for label, by_cell in table.items():
        row = []
        for cell in cells:
            c = by_cell[cell]
            mark = " **moves**" if c["moves"] and label not in ("all", "all again") else ""
            low, high = c["ratio_range"]
            row.append(f"{c['ms']:.3f} x{c['ratio_to_all']:.2f} [{low:.2f}-{high:.2f}]{mark}")
        lines.append(f"| {label} | " + " | ".join(row) + f" | {errors[label]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

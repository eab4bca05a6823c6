"""`python -m bench.paired CELL MODULE:NAME=OLD.py ...`: a code change's CPU per request, paired.

`python -m bench.inprocess` pairs the library overrides; this pairs a change to our own code.
One app (as `bench.inprocess` builds it, on a freshly seeded bench database) serves CELL
through ASGI, 8 requests in flight. Each MODULE:NAME is the changed function as the working
tree has it ("new"); OLD.py is the function's previous source (e.g. `git show REV:path`, cut
to the function), executed in MODULE's namespace so it sees the same imports ("old"). Between
batches the names are rebound to the old or the new functions: `old`, `new` and a second
`old again` (the A/A control) take turns in a new random order each time, 3 turns a round.
Per round each variant's CPU ms per request (`time.process_time`); the result is the median
of the per-round ratios new/old with their range, beside the control's, and a bootstrap 95%
interval of each median. `bench.inprocess`'s rule (the median outside the control's min..max)
asks a 1-3% change to beat the spread of single rounds; here a change moves CPU per request
when the two medians' 95% intervals do not overlap (`moves`), and the older rule is kept
beside it (`moves_by_range`).

The rebinding reaches callers that look the name up at call time (`module.name(...)`, or a
function called from inside MODULE); it does not reach a name another module imported with
`from MODULE import name`: swap it there.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import infra, workloads
from bench.inprocess import IN_FLIGHT, _cell, _requests

CELLS = ("getOrder", "getOrders", "placeOrder", "updateOrder", "entities_user_50")
VARIANTS = ("old", "new", "old again")
TURNS = 3


class Swap:
    """One module attribute with its old and new function."""

    def __init__(self, spec: str) -> None:
        target, _, source = spec.partition("=")
        module_name, _, self.name = target.rpartition(":")
        if not module_name or not self.name or not source:
            raise SystemExit(f"expected MODULE:NAME=OLD.py, got {spec!r}")
        self.module: ModuleType = importlib.import_module(module_name)
        self.new: Any = getattr(self.module, self.name)
        namespace = dict(vars(self.module))
        exec(compile(Path(source).read_text(), source, "exec"), namespace)  # noqa: S102 - our file
        self.old: Any = namespace[self.name]

    def use(self, variant: str) -> None:
        setattr(self.module, self.name, self.new if variant == "new" else self.old)


async def _measure(
    cell: str, requests: list[tuple[str, bytes]], swaps: list[Swap], rounds: int, batch: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    from subgraph.app import create_app
    from subgraph.settings import Settings

    def use(variant: str) -> None:
        for swap in swaps:
            swap.use(variant)

    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    errors = dict.fromkeys(VARIANTS, 0)
    rng = random.Random(7)
    app = create_app(Settings())
    try:
        async with app.lifespan():
            for variant in VARIANTS:  # warm-up
                use(variant)
                await _cell(app, requests, 2 * IN_FLIGHT)
            for round_ in range(rounds):
                spent = dict.fromkeys(VARIANTS, 0.0)
                for _ in range(TURNS):
                    order = list(VARIANTS)
                    rng.shuffle(order)
                    for variant in order:
                        use(variant)
                        ms, errs = await _cell(app, requests, batch)
                        spent[variant] += ms / TURNS
                        errors[variant] += errs
                for variant in VARIANTS:
                    cpu[variant].append(spent[variant])
                print(
                    f"[paired {time.strftime('%H:%M:%S')}] {cell} round {round_ + 1}: "
                    + " ".join(f"{v}={cpu[v][-1]:.3f}" for v in VARIANTS),
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        use("new")
    return cpu, errors


def _interval(values: list[float], draws: int = 2000) -> tuple[float, float]:
    """A bootstrap 95% interval of the median of `values`."""
    rng = random.Random(11)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def summary(cpu: dict[str, list[float]]) -> dict[str, Any]:
    """Medians of CPU ms per request and of the per-round ratios to `old`, with their ranges."""
    ratios = [n / o for n, o in zip(cpu["new"], cpu["old"], strict=True)]
    control = [n / o for n, o in zip(cpu["old again"], cpu["old"], strict=True)]
    median = statistics.median(ratios)
    low, high = _interval(ratios)
    control_low, control_high = _interval(control)
    return {
        "old_ms": round(statistics.median(cpu["old"]), 4),
        "new_ms": round(statistics.median(cpu["new"]), 4),
        "new_over_old": round(median, 4),
        "range": [round(min(ratios), 4), round(max(ratios), 4)],
        "control_median": round(statistics.median(control), 4),
        "control_range": [round(min(control), 4), round(max(control), 4)],
        "ci95": [round(low, 4), round(high, 4)],
        "control_ci95": [round(control_low, 4), round(control_high, 4)],
        "new_faster_rounds": sum(r < 1 for r in ratios),
        "moves": high < control_low or low > control_high,
        "moves_by_range": not min(control) <= median <= max(control),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__)
    parser.add_argument("cell", choices=CELLS)
    parser.add_argument("swaps", nargs="+", metavar="MODULE:NAME=OLD.py")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=200, help="requests per batch")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--orders-per-user", type=int, default=2)
    parser.add_argument("--output", help="JSON path")
    args = parser.parse_args(argv)
    with infra.stack() as stack:
        secret = "bench-" + stack.run_id * 8
        os.environ.update(infra.production_env(stack.dsn, secret))
        os.environ.pop("RABBITMQ_URL", None)
        os.environ.pop("LIBRARY_OVERRIDES", None)
        infra.migrate({**os.environ})
        top = asyncio.run(
            infra.seed(stack.dsn, users=args.users, orders_per_user=args.orders_per_user)
        )
        seed = workloads.Seed(users=args.users, orders=top)
        requests = _requests(args.cell, seed, workloads.Tokens(secret))
        swaps = [Swap(spec) for spec in args.swaps]
        cpu, errors = asyncio.run(_measure(args.cell, requests, swaps, args.rounds, args.batch))
    result = {
        "cell": args.cell,
        "swaps": args.swaps,
        "rounds": args.rounds,
        "batch": args.batch,
        **summary(cpu),
        "errors": errors,
        "cpu": cpu,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "cpu"}, indent=1))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

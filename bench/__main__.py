"""`python -m bench`: run the suite (see docs/performance.md); `--quick` for a smoke check.

`python -m bench --compare REV`: the build at REV against the working tree's, alternating
(bench/compare.py).

`python -m bench --soak [--minutes 10] [--restart-every 120]`: a mixed load while the database
restarts, then nothing lost (bench/soak.py); exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench import report, verdict
from bench.conditions import conditions
from bench.wrk import WrkMissing, wrk_path

if TYPE_CHECKING:
    from bench.compare import CompareArgs

RESULTS = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    from bench.suite import CELLS

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke check only")
    parser.add_argument("--seconds", type=float, help="length of one measured run (default 10)")
    parser.add_argument("--repeats", type=int, help="measured runs per cell (default 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="server workers (and floor clients)")
    parser.add_argument("--pool-size", type=int, default=10, help="DB pool per worker")
    parser.add_argument("--rss-requests", type=int, help="requests per RSS run (default 100000)")
    parser.add_argument("--cells", nargs="+", choices=CELLS, help="default: every cell")
    parser.add_argument("--skip-floors", action="store_true")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/<date>.json)")
    parser.add_argument(
        "--observability",
        action="store_true",
        help="instead of the suite: getOrder with tracing/metrics off, metrics only, both on,"
        " alternating (bench/observability.py)",
    )
    parser.add_argument(
        "--overrides",
        nargs="*",
        metavar="NAME",
        help="instead of the suite: each library override off against all on (bench/overrides.py);"
        " names limit it to those overrides",
    )
    parser.add_argument(
        "--floor", action="store_true", help="--overrides on floor (a)'s bare app, not the service"
    )
    parser.add_argument(
        "--profile",
        choices=CELLS,
        help="instead of the suite: py-spy one worker while this cell runs",
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="instead of the suite: the build at REV against the working tree's, alternating",
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="instead of the suite: mixed load while the service's database restarts",
    )
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="--soak: length of the load (default 10)"
    )
    parser.add_argument(
        "--restart-every",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="--soak: seconds between database restarts (default 120)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="--compare: rounds, each build once per round (default 3); --overrides: (default 2);"
        " --observability: (default 4)",
    )
    return parser


def compare_args(args: argparse.Namespace) -> CompareArgs | list[str]:
    """The compare's settings from the command line, or what is wrong with them."""
    from bench.compare import CompareArgs, validation_errors
    from bench.suite import CELLS

    quick = args.quick
    conflicting = [
        option
        for option, given in (
            ("--profile", args.profile),
            ("--repeats", args.repeats is not None),
            ("--skip-floors", args.skip_floors),
            ("--rss-requests", args.rss_requests is not None),
        )
        if given
    ]
    settings = CompareArgs(
        rev=args.compare,
        cells=tuple(args.cells or CELLS),
        rounds=args.rounds if args.rounds is not None else (2 if quick else 3),
        seconds=args.seconds if args.seconds is not None else (2.0 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 5.0),
        workers=args.workers,
        connections=args.connections,
        pool_size=args.pool_size,
        orders_per_user=5 if quick else 25,
        output=args.output,
    )
    errors = validation_errors(
        rounds=settings.rounds,
        seconds=settings.seconds,
        warmup=settings.warmup,
        workers=settings.workers,
        connections=settings.connections,
        cells=settings.cells,
        conflicting=conflicting,
    )
    return errors or settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.soak:
        return _soak(args)
    if args.compare is None:
        if args.rounds is not None and args.overrides is None and not args.observability:
            print(
                "--rounds applies to --compare, --overrides and --observability only",
                file=sys.stderr,
            )
            return 2
        if args.observability and args.rounds is not None and args.rounds < 2:
            print("--rounds must be at least 2: one round gives no spread", file=sys.stderr)
            return 2
    try:
        wrk_path()
    except WrkMissing as error:
        print(error, file=sys.stderr)
        return 2
    if args.compare is not None:
        return _compare(args)
    from bench import infra
    from bench.cells import service_cells
    from bench.suite import CELLS, Config, Run

    quick = args.quick
    config = Config(
        seconds=args.seconds or (2.0 if quick else 10.0),
        repeats=args.repeats or (1 if quick else 3),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 5.0),
        connections=args.connections,
        workers=args.workers,
        pool_size=args.pool_size,
        users=2000,
        orders_per_user=5 if quick else 25,
        rss_requests=args.rss_requests
        if args.rss_requests is not None
        else (2000 if quick else 100_000),
        results_dir=RESULTS,
        cells=tuple(args.cells or CELLS),
        skip_floors=args.skip_floors,
    )
    started = datetime.now(UTC)
    record: dict[str, object] = {
        "date": started.isoformat(timespec="seconds"),
        "quick": quick,
        "config": {k: str(v) for k, v in config.__dict__.items()},
        "conditions": conditions(),
    }
    with tempfile.TemporaryDirectory(prefix="orders-bench-") as tmp, infra.stack() as stack:
        run = Run(config, stack, Path(tmp))
        run.record.update(record)
        run.log(f"database {stack.database}, vhost {stack.vhost}; seeding")
        infra.migrate({**os.environ, **run.service_env()})
        top = asyncio.run(
            infra.seed(stack.dsn, users=config.users, orders_per_user=config.orders_per_user)
        )
        run.seed = type(run.seed)(users=config.users, orders=top)
        if args.overrides is not None:
            from bench import overrides

            rounds = args.rounds if args.rounds is not None else 2
            result = overrides.compare(run, rounds, args.overrides, floor=args.floor)
            run.record["overrides"] = result
            output = (
                args.output or RESULTS / f"overrides-{started.strftime('%Y-%m-%dT%H%M%S')}.json"
            )
            report.write_json(output, run.record)
            print("req/s, median (spread) and ratio to all on:")
            print(overrides.markdown(result))
            print("server CPU ms per request, median (spread) and ratio to all on:")
            print(overrides.markdown(result, "cpu_table"))
            print(f"written: {output}")
            return 0
        if args.profile:
            from bench.profile import profile_cell

            return profile_cell(run, args.profile)
        if args.observability:
            from bench.observability import observability_cells, table

            rounds = args.rounds if args.rounds is not None else (2 if quick else 4)
            result = observability_cells(run, rounds)
            run.record["load_average_at_end"] = list(os.getloadavg())
            output = args.output or RESULTS / f"{started.strftime('%Y-%m-%dT%H%M%S')}-obs.json"
            report.write_json(output, run.record)
            print(table(result))
            print(f"written: {output}")
            return 0
        if not config.skip_floors:
            run.floors()
        service_cells(run)
        if not config.skip_floors and not quick:
            run.floors_again()
        run.record["load_average_at_end"] = list(os.getloadavg())
        run.record["duration_s"] = round(time.time() - started.timestamp())
        rows = verdict.rows(run.record)
        run.record["table"] = rows
        output = args.output or RESULTS / f"{started.strftime('%Y-%m-%dT%H%M%S')}.json"
        report.write_json(output, run.record)
    print(report.table(rows))
    print("CPU, % of one core (machine capacity " + f"{record['conditions']['cores']}00%):")  # type: ignore[index]
    print(report.cpu_table(run.record["cpu"]))  # type: ignore[arg-type]
    print(f"written: {output}")
    return 0


def _soak(args: argparse.Namespace) -> int:
    from bench import soak

    if args.minutes <= 0 or args.restart_every <= 0:
        print(
            "python -m bench --soak: --minutes and --restart-every must be positive",
            file=sys.stderr,
        )
        return 2
    config = soak.SoakConfig(
        minutes=args.minutes,
        restart_every=args.restart_every,
        workers=args.workers,
        output=args.output,
    )
    return soak.run(config)


def _compare(args: argparse.Namespace) -> int:
    from bench.compare import CompareError, run_compare

    settings = compare_args(args)
    if isinstance(settings, list):
        for error in settings:
            print(f"python -m bench --compare: {error}", file=sys.stderr)
        return 2
    try:
        return run_compare(settings)
    except CompareError as error:
        print(f"python -m bench --compare: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"python -m bench --compare: interrupted ({interrupt}); cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    from bench.compare import signals_interrupt

    with signals_interrupt():  # SIGTERM cleans up (servers, databases) as Ctrl-C does
        raise SystemExit(main())

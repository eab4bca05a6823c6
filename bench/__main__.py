"""`python -m bench`: run the suite (see README "Performance"); `--quick` for a smoke check."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import report, verdict
from bench.conditions import conditions
from bench.wrk import WrkMissing, wrk_path

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
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--skip-floors", action="store_true")
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/<date>.json)")
    parser.add_argument(
        "--overrides",
        nargs="*",
        metavar="NAME",
        help="instead of the suite: each library override off against all on (bench/overrides.py);"
        " names limit it to those overrides",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --overrides")
    parser.add_argument(
        "--floor", action="store_true", help="--overrides on floor (a)'s bare app, not the service"
    )
    parser.add_argument(
        "--profile",
        choices=CELLS,
        help="instead of the suite: py-spy one worker while this cell runs",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        wrk_path()
    except WrkMissing as error:
        print(error, file=sys.stderr)
        return 2
    from bench import infra
    from bench.cells import service_cells
    from bench.suite import Config, Run

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
        cells=tuple(args.cells),
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

            result = overrides.compare(run, args.rounds, args.overrides, floor=args.floor)
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


if __name__ == "__main__":
    raise SystemExit(main())

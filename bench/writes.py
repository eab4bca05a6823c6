"""`python -m bench.writes`: updateOrder's storage, the transaction of steps it was against the
read and one statement it is now, in one process on one database, by the CPU each costs.

Through HTTP (`python -m bench --compare`) the machine's drift and other load move req/s by
tens of percent, more than a few round trips saved can. Here both paths run the same
use-case work (read, the domain's rules, the event) on the bench's seeded PostgreSQL, 8
updates in flight on 8 connections (`--in-flight`, `--pool`: a served worker has 16 on 10),
in alternating batches (which goes first alternates), and each batch is
charged with what it cost:

- **client**: this process's CPU time (the driver, Piccolo, the use case);
- **server**: the CPU time of the PostgreSQL backends serving this process's pool (their
  pids from `pg_backend_pid()`, read from /proc), so nothing else on the machine is counted;
- the statements sent (asyncpg's query logger), and the wall time.

`steps` is the code before issue 18's item 2: `async with uow:` BEGIN, SELECT, UPDATE,
INSERT history (a status move), INSERT outbox, COMMIT. `one statement` is `update_order` as
it is. Each update changes the quantity of one of its owner's PENDING orders (the bench's
updateOrder cell) or, with `--status`, confirms orders (a history entry too).
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

import asyncpg
import psutil

from bench import infra

IN_FLIGHT = 8
PATHS = ("steps", "one statement")


async def _update_in_steps(uow: Any, principal: Any, order_id: int, **change: Any) -> None:
    """The update as it was: one transaction of steps (what SQLite still runs)."""
    from subgraph import service
    from subgraph.domain.order import OrderStatus

    status = change.get("status")
    target = OrderStatus.parse(status) if status is not None else None
    async with uow:
        order = await service._load(uow, order_id)
        principal.check_can_update(order.user_id, status=target, quantity=change.get("quantity"))
        order.update(
            event_id=service.new_event_id(),
            now=service.utc_now(),
            status=target,
            quantity=change.get("quantity"),
            reason="bench",
        )
        await uow.orders.save(order)


async def _measure(
    dsn: str, top: int, users: int, rounds: int, batch: int, status: bool, pool: int, flight: int
) -> Any:
    from piccolo.engine.postgres import PostgresEngine

    from subgraph import service
    from subgraph.domain.access import Principal
    from subgraph.persistence.engine import keep_session
    from subgraph.persistence.unit_of_work import UnitOfWork

    statements = [0]
    backends: set[int] = set()

    async def init(connection: Any) -> None:
        connection.add_query_logger(lambda _: statements.__setitem__(0, statements[0] + 1))
        backends.add(int(await connection.fetchval("SELECT pg_backend_pid()")))

    engine = PostgresEngine(config={"dsn": dsn}, log_queries=False)
    engine.pool = await asyncpg.create_pool(
        dsn, min_size=pool, max_size=pool, init=init, reset=keep_session
    )
    rng = random.Random(18)
    pending = list(range(1, top + 1))
    rng.shuffle(pending)
    admin = Principal(user_id="0", is_admin=True)

    def work() -> list[tuple[Principal, int, dict[str, Any]]]:
        jobs: list[tuple[Principal, int, dict[str, Any]]] = []
        for _ in range(batch):
            if status:  # each order once: PENDING -> CONFIRMED
                order_id = pending.pop()
                jobs.append((admin, order_id, {"status": "CONFIRMED"}))
            else:
                order_id = rng.randint(1, top)
                owner = Principal(user_id=str(1 + (order_id - 1) % users))
                jobs.append((owner, order_id, {"quantity": rng.randint(1, 9)}))
        return jobs

    async def run(path: str, jobs: list[tuple[Principal, int, dict[str, Any]]]) -> int:
        queue = list(jobs)
        failed = 0

        async def worker() -> None:
            nonlocal failed
            while queue:
                principal, order_id, change = queue.pop()
                try:
                    if path == "steps":
                        await _update_in_steps(UnitOfWork(engine), principal, order_id, **change)
                    else:
                        await service.update_order(
                            uow=UnitOfWork(engine), principal=principal, order_id=order_id, **change
                        )
                except Exception:  # noqa: BLE001 - counted: a lost race on the steps path
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(flight)))
        return failed

    def server_cpu() -> float:
        total = 0.0
        for pid in backends:
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    me = psutil.Process()
    results: dict[str, dict[str, list[float]]] = {
        p: {"client_ms": [], "server_ms": [], "statements": [], "wall_ms": []} for p in PATHS
    }
    failures = dict.fromkeys(PATHS, 0)
    await run("one statement", work())  # warm-up: both prepared, the pool full
    await run("steps", work())
    for r in range(rounds * 2):
        order = PATHS if r % 2 == 0 else PATHS[::-1]
        for path in order:
            jobs = work()
            c0, s0, n0, w0 = (
                sum(me.cpu_times()[:2]),
                server_cpu(),
                statements[0],
                time.perf_counter(),
            )
            failures[path] += await run(path, jobs)
            w1, c1, s1, n1 = (
                time.perf_counter(),
                sum(me.cpu_times()[:2]),
                server_cpu(),
                statements[0],
            )
            results[path]["client_ms"].append(1000 * (c1 - c0) / batch)
            results[path]["server_ms"].append(1000 * (s1 - s0) / batch)
            results[path]["statements"].append((n1 - n0) / batch)
            results[path]["wall_ms"].append(1000 * (w1 - w0) / batch)
    await engine.pool.close()
    return results, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="pairs of batches per path")
    parser.add_argument("--batch", type=int, default=400, help="updates per batch")
    parser.add_argument("--status", action="store_true", help="confirm orders instead")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT, help="updates at once")
    parser.add_argument(
        "--pool", type=int, default=IN_FLIGHT, help="connections (fewer: updates queue for one)"
    )
    args = parser.parse_args(argv)
    users = 2000
    with infra.stack() as stack:
        os.environ.update({"DATABASE_URL": stack.dsn, "LOG_LEVEL": "WARNING"})
        os.environ.pop("RABBITMQ_URL", None)
        infra.migrate({**os.environ})
        top = asyncio.run(infra.seed(stack.dsn, users=users, orders_per_user=25))
        print(f"database {stack.database}; seeded {top} orders", file=sys.stderr)
        results, failures = asyncio.run(
            _measure(
                stack.dsn,
                top,
                users,
                args.rounds,
                args.batch,
                args.status,
                args.pool,
                args.in_flight,
            )
        )
    print(
        f"{args.rounds * 2} batches of {args.batch} per path, {args.in_flight} in flight on "
        f"{args.pool} connections; medians"
    )
    print(
        "| path | statements/update | client CPU ms/update | PostgreSQL CPU ms/update "
        "| wall ms/update | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for path in PATHS:
        r = results[path]
        print(
            f"| {path} | {statistics.median(r['statements']):.2f} "
            f"| {statistics.median(r['client_ms']):.3f} | {statistics.median(r['server_ms']):.3f} "
            f"| {statistics.median(r['wall_ms']):.3f} | {failures[path]} |"
        )
    for key in ("client_ms", "server_ms", "wall_ms"):
        ratios = [
            n / o
            for o, n in zip(results["steps"][key], results["one statement"][key], strict=True)
            if o
        ]
        print(
            f"one statement / steps, {key}: median {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}), paired by batch"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m bench --overrides`: each library override off, against all on, in one run.

Every configuration serves as production does (`serve --workers 2`), with LIBRARY_OVERRIDES set
to `all`, to all but one override (`-name`), or to `none`. Configurations alternate in rounds
(the order reversed every other round, so the machine's drift falls on all of them alike); each
cell gets a warm-up and `repeats` measured wrk runs per round. A cell's figure is the median
req/s over every round, its spread (max - min) / median; an override moves a cell when the
ratio to `all` differs from 1 by more than the larger of the two spreads. The same for the
server's CPU per request (one figure per round), which other load on the machine moves least.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.server import raw_app_command, serve, server_env, service_command
from bench.suite import Run
from subgraph.overrides import OVERRIDES

DEFAULT_CELLS = ("getOrder", "getOrders", "placeOrder", "entities_user_50", "entities_order_1000")


def configurations() -> dict[str, str]:
    """Label -> LIBRARY_OVERRIDES value: all on, each one off, all off."""
    configs = {"all": "all"}
    for name in OVERRIDES:
        configs[f"-{name}"] = ",".join(n for n in OVERRIDES if n != name)
    configs["none"] = "none"
    return configs


def compare(
    run: Run, rounds: int, only: list[str] | None = None, *, floor: bool = False
) -> dict[str, Any]:
    """Run every configuration `rounds` times over the run's cells; the table as a dict.

    With `floor`, each configuration serves floor (a)'s bare ASGI app instead of the service
    (the server overrides alone, on the getOrder requests it answers with a fixed body).
    """
    configs = configurations()
    if only:
        wanted = {"all", *(f"-{name}" for name in only), "none"}
        configs = {label: value for label, value in configs.items() if label in wanted}
    cells = ("getOrder",) if floor else run.config.cells
    rates: dict[str, dict[str, list[float]]] = {c: {cell: [] for cell in cells} for c in configs}
    cpu: dict[str, dict[str, list[float]]] = {c: {cell: [] for cell in cells} for c in configs}
    errors: dict[str, int] = dict.fromkeys(configs, 0)
    for round_ in range(rounds):
        labels = list(configs) if round_ % 2 == 0 else list(reversed(configs))
        for label in labels:
            env, port = server_env({**run.service_env(), "LIBRARY_OVERRIDES": configs[label]})
            if floor:
                command, ready = raw_app_command(port, run.config.workers), "/"
            else:
                command, ready = service_command(port, run.config.workers), "/health/ready"
            log = run.work / f"service-{label}.log"
            run.log(f"round {round_ + 1}/{rounds}: LIBRARY_OVERRIDES for {label}")
            with serve(command, env, ready, log, run.config.workers) as server:
                for cell in cells:
                    result = run.wrk_cell(server, f"{label} {cell}", cell)
                    rates[label][cell].extend(r["rps"] for r in result["reps"])
                    per_request = result["summary"].get("server_cpu_ms_per_request")
                    if per_request is not None:
                        cpu[label][cell].append(per_request)
                    errors[label] += result["summary"]["errors"]
    return {
        "configs": configs,
        "table": _table(rates),
        "cpu_table": _table(cpu),
        "errors": errors,
        "rounds": rounds,
    }


def _table(rates: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    base = rates["all"]
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for label, by_cell in rates.items():
        table[label] = {}
        for cell, values in by_cell.items():
            median, spread = _median_spread(values)
            base_median, base_spread = _median_spread(base[cell])
            ratio = median / base_median if base_median else None
            table[label][cell] = {
                "median": round(median, 2),
                "spread_pct": round(100 * spread, 1),
                "ratio_to_all": round(ratio, 3) if ratio is not None else None,
                "moves": ratio is not None and abs(ratio - 1) > max(spread, base_spread),
                "runs": [round(v, 1) for v in values],
            }
    return table


def _median_spread(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    median = statistics.median(values)
    return median, (max(values) - min(values)) / median if median else 0.0


def markdown(result: dict[str, Any], key: str = "table") -> str:
    """A table (req/s, or with key="cpu_table" server CPU ms per request): the median (spread)
    and the ratio to all-on, per configuration and cell."""
    table = result[key]
    cells = list(next(iter(table.values())))
    lines = [
        "| configuration | " + " | ".join(cells) + " |",
        "|---|" + "---:|" * len(cells),
    ]
    for label, by_cell in table.items():
        row = []
        for cell in cells:
            c = by_cell[cell]
            mark = " **moves**" if c["moves"] and label != "all" else ""
            row.append(f"{c['median']:,.2f} ({c['spread_pct']}%) x{c['ratio_to_all']}{mark}")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)

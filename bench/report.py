"""Summaries of repeated measurements, the printed table and the JSON record."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the repetitions, with the spread of req/s as (max - min) / median."""
    rates = [r["rps"] for r in reps]
    median_rate = statistics.median(rates) if rates else 0.0
    return {
        "rps": round(median_rate, 1),
        "rps_min": round(min(rates), 1) if rates else None,
        "rps_max": round(max(rates), 1) if rates else None,
        "spread_pct": round(100 * (max(rates) - min(rates)) / median_rate, 1)
        if median_rate
        else None,
        "p50_ms": _median(r["p50_ms"] for r in reps),
        "p99_ms": _median(r["p99_ms"] for r in reps),
        "p99_ms_worst": max((r["p99_ms"] for r in reps if r["p99_ms"] is not None), default=None),
        "errors": sum(r["errors"] for r in reps),
        "requests": sum(r["requests"] for r in reps),
    }


def _median(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: what docs/performance.md shows."""
    header = (
        "| cell | req/s (spread) | p50 ms | p99 ms | errors | server CPU ms/req | floor | ratio "
        "| target | met |\n"
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|\n"
    )
    lines = []
    for row in rows:
        spread = f" (±{row['spread_pct'] / 2:.0f}%)" if row.get("spread_pct") is not None else ""
        lines.append(
            f"| {row['cell']} | {_fmt(row.get('rps'))}{spread} | {_fmt(row.get('p50_ms'), 2)} "
            f"| {_fmt(row.get('p99_ms'), 2)} | {_fmt(row.get('errors'))} "
            f"| {_fmt(row.get('server_cpu_ms_per_request'), 2)} "
            f"| {row.get('floor') or '-'} | {row.get('ratio') or '-'} "
            f"| {row.get('target') or '-'} | {row.get('met') or '-'} |"
        )
    return header + "\n".join(lines) + "\n"


def cpu_table(cpu: dict[str, dict[str, float]]) -> str:
    """CPU per group in % of one core (the machine has 100% per core)."""
    groups = ["server", "postgres", "rabbitmq", "loadgen", "bench", "other", "machine_busy"]
    header = "| cell | " + " | ".join(groups) + " |\n|---|" + "---:|" * len(groups) + "\n"
    body = "".join(
        f"| {cell} | " + " | ".join(_fmt(split.get(g), 0) for g in groups) + " |\n"
        for cell, split in cpu.items()
    )
    return header + body


def write_json(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")

"""Drive wrk (a separate C process, so the load generator does not share the server's Python)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("lua") / "graphql.lua"
INSTALL_HINT = (
    "wrk is not installed: the suite needs it as its load generator.\n"
    "  Debian/Ubuntu: sudo apt-get install wrk\n"
    "  macOS: brew install wrk\n"
    "or build it from its source; then rerun `python -m bench`."
)


class WrkMissing(RuntimeError):
    """wrk is not on PATH."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: counts, latency percentiles (ms) and wrk's own CPU seconds."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_sample: str
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(INSTALL_HINT)
    return path


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    timeout_s: int = 30,
) -> WrkResult:
    """Run wrk against `url` with the requests in `requests_file` (see lua/graphql.lua).

    A request unanswered after `timeout_s` counts as an error. The default is Apollo Router's
    default subgraph timeout (30 s): with the 10 s used before, one 1000-user `_entities`
    batch queued behind 31 others (p99 9.8 s in a slow period of the machine) counted as an
    error, though a router would still have waited for it.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests_file),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = (
        data["socket_errors"] + data["status_errors"] + data["timeouts"] + data["graphql_errors"]
    )
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        error_sample=data["sample"]
        or (f"{data['timeouts']} unanswered within {timeout_s} s" if data["timeouts"] else ""),
        cpu_seconds=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )

"""Where the CPU went during a cell: server, PostgreSQL, RabbitMQ, load generator, the rest."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

RABBITMQ_NAMES = frozenset({"beam.smp", "erl_child_setup", "epmd", "inet_gethost"})
GROUPS = ("server", "postgres", "rabbitmq", "loadgen", "bench", "other")


def cpu_seconds(p: psutil.Process) -> float:
    """CPU seconds the process has used so far, user and system."""
    times = p.cpu_times()
    return float(times.user + times.system)


def service_group(name: str) -> str | None:
    """The server a process belongs to, by its name: `postgres`, `rabbitmq`, or None."""
    if name.startswith("postgres"):
        return "postgres"
    if name in RABBITMQ_NAMES:
        return "rabbitmq"
    return None


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


@dataclass
class Snapshot:
    at: float
    busy: float
    by_pid: dict[int, tuple[str, float]]


class CpuMeter:
    """Snapshots CPU seconds per process group; `server_pids` names the server under test.

    The load generator (wrk, or the floors' client processes) is measured by the caller from
    its rusage, since it exits before the closing snapshot.
    """

    def __init__(self, server_pids: Callable[[], set[int]]) -> None:
        self._server_pids = server_pids
        self._me = os.getpid()

    def _group(self, p: psutil.Process, server: set[int]) -> str | None:
        if p.pid in server:
            return "server"
        if p.pid == self._me:
            return "bench"
        return service_group(p.info.get("name") or "")  # type: ignore[attr-defined]

    def snapshot(self) -> Snapshot:
        server = self._server_pids()
        by_pid: dict[int, tuple[str, float]] = {}
        for p in psutil.process_iter(["name"]):
            group = self._group(p, server)
            if group is None:
                continue
            with contextlib.suppress(psutil.Error):
                by_pid[p.pid] = (group, cpu_seconds(p))
        return Snapshot(at=time.monotonic(), busy=_busy_seconds(), by_pid=by_pid)

    @staticmethod
    def split(start: Snapshot, end: Snapshot, loadgen_seconds: float) -> dict[str, float]:
        """Each group's share of the machine in the window, as % of one core."""
        wall = max(end.at - start.at, 1e-9)
        seconds = dict.fromkeys(GROUPS, 0.0)
        for pid, (group, cpu) in end.by_pid.items():
            before = start.by_pid.get(pid)
            seconds[group] += cpu - (before[1] if before else 0.0)
        seconds["loadgen"] = loadgen_seconds
        known = sum(v for k, v in seconds.items() if k != "other")
        seconds["other"] = max(0.0, (end.busy - start.busy) - known)
        percent = {k: round(100 * v / wall, 1) for k, v in seconds.items()}
        percent["machine_busy"] = round(100 * (end.busy - start.busy) / wall, 1)
        percent["machine_capacity"] = 100.0 * (psutil.cpu_count() or 1)
        return percent


def rss_mb(processes: list[psutil.Process]) -> list[float]:
    """Resident memory of each process, MiB."""
    sizes = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            sizes.append(round(p.memory_info().rss / 2**20, 1))
    return sizes

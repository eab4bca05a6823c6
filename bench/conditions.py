"""The run conditions recorded with every result: machine, load, versions, commit."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

PACKAGES = (
    "strawberry-graphql",
    "litestar",
    "uvicorn",
    "uvloop",
    "httptools",
    "piccolo",
    "asyncpg",
    "faststream",
    "aio-pika",
    "orjson",
)
ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str, any_status: bool = False) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT)
        if done.returncode == 0 or any_status:
            return (done.stdout + done.stderr).strip()
    return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def conditions() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return {
        "cores": psutil.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        # `wrk --version` prints its version with the usage text and exits 1.
        "wrk": (_run("wrk", "--version", any_status=True).splitlines() or ["unknown"])[0],
        "git_commit": _run("git", "rev-parse", "--short", "HEAD"),
        "git_dirty": _run("git", "status", "--porcelain") not in ("", "unknown"),
    }

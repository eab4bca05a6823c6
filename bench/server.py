"""Start and stop the HTTP servers under test, and find their worker processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.infra import cli_path, free_port


@dataclass
class Server:
    """A running server: its master process, its URL and where it logs."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def processes(self) -> list[psutil.Process]:
        """The master and every process under it."""
        try:
            master = psutil.Process(self.process.pid)
            return [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def workers(self) -> list[psutil.Process]:
        """Uvicorn's worker processes (spawned children; not multiprocessing's tracker)."""
        found = []
        for p in self.processes()[1:]:
            with contextlib.suppress(psutil.Error):
                if "spawn_main" in " ".join(p.cmdline()):
                    found.append(p)
        return found


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=2) as answer,  # noqa: S310 - loopback only
        ):
            if answer.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout:.0f}s; see {log}")


@contextmanager
def serve(
    command: list[str],
    env: dict[str, str],
    ready_path: str,
    log: Path,
    workers: int,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """Run `command` (which must listen on the port in env BENCH_PORT) until the block ends."""
    port = env["BENCH_PORT"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd)
    server = Server(process=process, url=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_ready(server.url + ready_path, process, log, timeout=90)
        deadline = time.monotonic() + 30
        while len(server.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        # Every worker must have started (and opened its pool) before load arrives.
        for _ in range(workers * 4):
            _wait_ready(server.url + ready_path, process, log, timeout=30)
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    """SIGTERM the master (uvicorn stops its workers), then kill what is left, by pid."""
    children = server.processes()[1:]
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


def service_command(port: int, workers: int) -> list[str]:
    """`orders-subgraph serve` exactly as production starts it."""
    return [cli_path(), "serve", "--workers", str(workers), "--port", str(port), "--no-migrate"]


def raw_app_command(port: int, workers: int) -> list[str]:
    """Floor (a) served as `serve` serves (bench/raw_app.py)."""
    return [sys.executable, "-m", "bench.raw_app", str(port), str(workers)]


def server_env(extra: dict[str, str]) -> tuple[dict[str, str], int]:
    """The environment for a server on a fresh port (BENCH_PORT), with the repo importable."""
    port = free_port()
    env = {**os.environ, **extra, "BENCH_PORT": str(port)}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env, port

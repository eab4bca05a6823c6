"""Start the federation test servers as child processes and stop them again, with bounded waits.

Our own servers print ``READY <port>`` on stdout once they listen (the stand-ins, the orders
server and ``gateway.mjs``), so they are started on port 0 and the port is read back: no guessed
ports, no polling. Servers that are not ours (Hive Gateway, Grafbase) are given a free port and
polled on a URL until they answer (``start_http``). Output goes to a log file per process,
whose tail is shown when a process fails to start.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

START_TIMEOUT = 60.0  # seconds; the gateway and a cold Python import can be slow on 2 busy cores
STOP_TIMEOUT = 10.0


class StartFailed(RuntimeError):
    """A server exited or stayed silent instead of printing READY."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT; only this process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def _pump(stream: IO[str], lines: queue.Queue[str | None], log: IO[str]) -> None:
    # Keep draining stdout after READY so the child never blocks on a full pipe.
    for line in stream:
        log.write(line)
        log.flush()
        lines.put(line)
    lines.put(None)


def start(
    name: str,
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_dir: Path,
    timeout: float = START_TIMEOUT,
) -> Server:
    """Run ``argv`` and wait (at most ``timeout`` seconds) for its ``READY <port>`` line."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops us
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines, log), daemon=True).start()
    try:
        port = _wait_for_ready(lines, timeout)
    except BaseException as error:
        server = Server(name, process, 0, log_path)
        server.stop()
        raise StartFailed(f"{name} did not start: {error}\n{_tail(log_path)}") from None
    return Server(name, process, port, log_path)


def start_http(
    name: str,
    argv: list[str],
    *,
    port: int,
    ready: Callable[[], bool],
    cwd: Path,
    env: dict[str, str],
    log_dir: Path,
    timeout: float = START_TIMEOUT,
) -> Server:
    """Run a server that is not ours on ``port`` and wait until ``ready()`` says it answers.

    ``ready`` is asked every 0.2 s for at most ``timeout`` seconds; a server that exits first,
    or never answers, fails with the tail of its own log.
    """
    log_path = log_dir / f"{name}.log"
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            problem = f"exited with {process.returncode} before answering"
            break
        if _answers(ready):
            return server
        if time.monotonic() > deadline:
            problem = f"did not answer within {timeout:.0f} s"
            break
        time.sleep(0.2)
    server.stop()
    raise StartFailed(f"{name} did not start: {problem}\n{_tail(log_path)}")


def _answers(ready: Callable[[], bool]) -> bool:
    try:
        return ready()
    except (OSError, httpx.TransportError):  # not listening yet
        return False


def _wait_for_ready(lines: queue.Queue[str | None], timeout: float) -> int:
    try:
        while (line := lines.get(timeout=timeout)) is not None:
            if line.startswith("READY "):
                return int(line.split()[1])
    except queue.Empty:
        raise TimeoutError(f"no READY line within {timeout:.0f} s") from None
    raise EOFError("exited before printing READY")


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(f"  | {line}" for line in text[-lines:])


def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment with the overrides, minus anything that reaches out."""
    env = dict(os.environ)
    env.pop("RABBITMQ_URL", None)
    env.update(APOLLO_TELEMETRY_DISABLED="1", PYTHONUNBUFFERED="1", **overrides)
    return env

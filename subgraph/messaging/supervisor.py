"""`serve`'s messaging process: the relay and the inventory consumer beside the HTTP workers.

Inside a busy HTTP worker the relay is one task among hundreds of requests and falls seconds
behind under load; in a process of its own the operating system gives it its own time slices.
The supervisor restarts the process if it dies and stops it when `serve` stops; on Linux the
child is also told to stop if `serve` itself is killed (`subgraph.parent_death`).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence

from subgraph.parent_death import child_environment

logger = logging.getLogger("subgraph.messaging.supervisor")

RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
STOP_GRACE_SECONDS = 20.0
HEALTHY_AFTER_SECONDS = 60.0  # a run this long resets the backoff


class MessagingProcess:
    """Runs `command` as a child process until `stop`, restarting it with backoff if it exits."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(
            target=self._watch, name="orders-messaging-supervisor", daemon=True
        )

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def stop(self) -> None:
        """SIGTERM the child (it finishes its publishing round), SIGKILL after the grace."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning(
                "messaging process did not stop in %.0f s; killing it", STOP_GRACE_SECONDS
            )
            process.kill()
            process.wait()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            env = child_environment()  # it stops when we exit, however we exit
            # A session of its own: a Ctrl-C meant for `serve` must not reach it before `stop`.
            self._process = subprocess.Popen(  # noqa: S603 - our own CLI
                self.command, env=env, start_new_session=True
            )
        logger.info("messaging process started (pid %d)", self._process.pid)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > HEALTHY_AFTER_SECONDS:
                failures = 0
            delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
            failures += 1
            logger.error("messaging process exited with %s; restarting in %.0f s", code, delay)
            if self._stopping.wait(delay):
                return
            self._spawn()

"""`serve`'s child processes end with it, even when `serve` itself is killed (SIGKILL).

`serve` puts its pid in the children's environment (the messaging process, and the HTTP
workers when there are several); each child calls `die_with_parent` as it starts. On Linux the
kernel then sends the child SIGTERM when `serve` exits, however it exits, and the child's own
graceful shutdown runs. Without it a killed `serve` left its workers serving on the port and
its relay publishing, reparented to PID 1.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import NoReturn

PARENT_PID_VARIABLE = "ORDERS_SUBGRAPH_PARENT_PID"
_PR_SET_PDEATHSIG = 1
LINGERING_THREAD_GRACE_SECONDS = 5.0

logger = logging.getLogger("subgraph.process")


def child_environment() -> dict[str, str]:
    """This process's environment, naming this process as the parent to die with."""
    return {**os.environ, PARENT_PID_VARIABLE: str(os.getpid())}


def die_with_parent() -> None:
    """In the child: get SIGTERM when `serve` exits, even by SIGKILL; exit if it already has.

    Done by the child itself rather than in a `preexec_fn`, which is unsafe with threads. The
    signal comes when the parent's *thread* that started the child ends: `serve` starts its
    children from its main thread, or from a supervisor thread that lives as long as `serve`.
    """
    parent = os.environ.get(PARENT_PID_VARIABLE)
    if parent is None or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # best effort: the normal stop path still terminates the child
    if os.getppid() != int(parent):
        raise SystemExit("orders-subgraph: the serving process is gone")


def exit_now_done(code: int, grace: float = LINGERING_THREAD_GRACE_SECONDS) -> NoReturn:
    """End the process with `code` once its work is done, without waiting forever for threads.

    The interpreter's exit joins every non-daemon thread. They get `grace` seconds; one still
    running then is named in a warning and the process exits anyway (`os._exit`, after the
    exit handlers and a flush of the logs), as what it was doing has been stopped already.
    """
    deadline = time.monotonic() + grace
    lingering = []
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            lingering.append(thread.name)
    if not lingering:
        raise SystemExit(code)
    logger.warning("exiting with threads still running: %s", ", ".join(lingering))
    exit_immediately(code)


def exit_immediately(code: int) -> NoReturn:
    """End the process now: the exit handlers run and the logs are flushed, but no thread or
    event loop is waited for (what was still running has been given up on already)."""
    import atexit

    atexit._run_exitfuncs()  # what the interpreter would run at exit (telemetry flushes)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""`serve`'s child processes end with it, even when `serve` itself is killed (SIGKILL).

`serve` puts its pid in the children's environment (the messaging process, and the HTTP
workers when there are several); each child calls `die_with_parent` as it starts. On Linux the
kernel then sends the child SIGTERM when `serve` exits, however it exits, and the child's own
graceful shutdown runs. Without it a killed `serve` left its workers serving on the port and
its relay publishing, reparented to PID 1.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PARENT_PID_VARIABLE = "ORDERS_SUBGRAPH_PARENT_PID"
_PR_SET_PDEATHSIG = 1


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

"""How `orders-subgraph serve` (and the bench's floor (a)) run uvicorn: uvloop and httptools,
uvicorn's own multiprocess supervisor, garbage collection tuned per worker
(`garbage_collection`), and a graceful shutdown (`shutdown`) in every worker.

With several workers each listens on a socket of its own while the `socket_per_worker`
override is on (subgraph/overrides/), else on uvicorn's one shared socket. The graceful
shutdown is no speed-up: it is what keeps a SIGTERM from resetting requests, and
docs/upgrading.md lists what of uvicorn it relies on.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess, multiprocess

from subgraph import parent_death
from subgraph.server import shutdown
from subgraph.settings import get_settings

logger = logging.getLogger("uvicorn.error")

SERVER_SETTINGS: dict[str, Any] = {
    "loop": "uvloop",
    # uvicorn's httptools protocol, draining keep-alive connections on SIGTERM (shutdown.py).
    "http": "subgraph.server.shutdown:DrainingHttpToolsProtocol",
    "server_header": False,
    "proxy_headers": False,
}


class GracefulWorker(multiprocess.Process):
    """A uvicorn worker process whose server is `shutdown.GracefulServer`.

    Each worker is a fresh interpreter (multiprocessing's spawn), so patching uvicorn's module
    global `Server` in `serve`, as this module once did, never reached the workers: with
    `--workers 2` they ran uvicorn's own shutdown, resetting idle keep-alive connections at
    SIGTERM. This class travels with the pickled process object, so the worker uses it.
    """

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            timeout = get_settings().shutdown_timeout_seconds  # the worker's own environment
            self._server = shutdown.GracefulServer(self.config, shutdown_timeout=timeout)
        return self._server


class GracefulSupervisor(Multiprocess):
    """uvicorn's supervisor, letting go of the listening socket when it stops its workers.

    Each worker closes its own copy of the listening socket when it drains (shutdown.py);
    while the supervisor's copy stayed open the kernel kept queueing new connections that no
    worker would accept, and closing it after the workers had exited reset them, requests
    and all (8 resets under keep-alive load with --workers 2). Closed first, the last worker
    to drain closes the socket: later connections are refused, which a client can retry.
    """

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def run(app: str, **options: Any) -> int:
    """`uvicorn.run(app, **options)`, each worker shutting down gracefully; the exit status."""
    timeout = get_settings().shutdown_timeout_seconds
    config = uvicorn.Config(app, **options)
    if config.workers <= 1:
        started = shutdown.run(config, shutdown_timeout=timeout)
        return 0 if started else STARTUP_FAILURE
    # uvicorn's supervisor builds each worker by this module-level name (in this process).
    setattr(multiprocess, "Process", GracefulWorker)  # noqa: B010 - the module's global
    # The workers (spawned with this environment) stop when we exit, even by SIGKILL: a
    # killed `serve` left them serving on the port, reparented to PID 1.
    os.environ.update(parent_death.child_environment())
    try:
        sock = _bind(config)
    except OSError as error:  # as uvicorn's own bind fails: logged, the startup status
        logger.error(error)
        return STARTUP_FAILURE
    try:
        GracefulSupervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _bind(config: uvicorn.Config) -> socket.socket:
    """uvicorn's one shared listening socket; with `socket_per_worker` on (on Linux), the
    address reserved for the workers, each of which listens on a socket of its own."""
    if get_settings().override("socket_per_worker"):
        from subgraph.overrides import socket_per_worker  # imported only when it is on

        if socket_per_worker.available():
            return socket_per_worker.reserve(config.host, config.port, config.backlog)
    return config.bind_socket()

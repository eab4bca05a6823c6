"""How `orders-subgraph serve` (and the bench's floor (a)) run uvicorn: uvloop and httptools,
uvicorn's own multiprocess supervisor, garbage collection tuned per worker
(`garbage_collection`), and a graceful shutdown (`shutdown`) in every worker.

Two speed overrides of uvicorn's internals used to live here (each response sent in one write,
a SO_REUSEPORT socket per worker); measured on and off in one run they moved no cell beyond
the run's spread and were deleted (docs/upgrading.md). The graceful shutdown is no speed-up:
it is what keeps a SIGTERM from resetting requests, and docs/upgrading.md lists what of
uvicorn it relies on.
"""

from __future__ import annotations

import functools
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess, multiprocess

from subgraph.server import shutdown
from subgraph.settings import get_settings

SERVER_SETTINGS: dict[str, Any] = {
    "loop": "uvloop",
    # uvicorn's httptools protocol, draining keep-alive connections on SIGTERM (shutdown.py).
    "http": "subgraph.server.shutdown:DrainingHttpToolsProtocol",
    "server_header": False,
    "proxy_headers": False,
}


def run(app: str, **options: Any) -> int:
    """`uvicorn.run(app, **options)`, each worker shutting down gracefully; the exit status."""
    timeout = get_settings().shutdown_timeout_seconds
    config = uvicorn.Config(app, **options)
    if config.workers <= 1:
        started = shutdown.run(config, shutdown_timeout=timeout)
        return 0 if started else STARTUP_FAILURE
    # uvicorn's supervisor builds each worker's server by this module-level name.
    setattr(  # noqa: B010 - the module's global, not a typed attribute
        multiprocess, "Server", functools.partial(shutdown.GracefulServer, shutdown_timeout=timeout)
    )
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0

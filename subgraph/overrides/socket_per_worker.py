"""uvicorn's workers, each with a listening socket of its own so connections spread evenly.

uvicorn's workers accept from one shared socket, and the worker that wakes first takes a
whole burst of new connections: 32 connections opened at once landed 26/6 and 28/4 on two
workers (measured), and a router keeps its connections for hours, so one worker stays busy
while the other idles. With `SO_REUSEPORT` every worker listens on a socket of its own on the
same address, and Linux hands each new connection to one of them by its address hash.

The supervisor first binds the address as uvicorn would, and fails as uvicorn would when
something else holds it: a second server on the same port must not quietly share its traffic.
It then keeps a socket bound to the address but never listening, which receives no
connections. uvicorn's supervisor pickles the sockets it is given into each worker; pickling
`ReservedPort` carries the address, and unpickling it in the worker opens that worker's own
listening socket, again when a worker is restarted.

Measured (2026-12-07, night, `serve --workers 2`, getOrder, 32 wrk connections): with the shared
socket the workers' CPU split 0.78/0.97 of a core in most runs and 0.00/0.98 in one (every
connection on one worker, 4,041 req/s against ~6,500); with a socket each, see
docs/upgrading.md for the ratio. `subgraph/server` uses it when the override is on.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

logger = logging.getLogger("uvicorn.error")


def available() -> bool:
    """Only Linux balances connections over sockets sharing a port."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class ReservedPort(socket.socket):
    """The supervisor's claim on the address; each worker gets a listening socket for it."""

    backlog = 2048

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # multiprocessing's pickler reduces `socket.socket` itself, not its subclasses.
        return (listening_socket, (self.family, self.getsockname(), self.backlog))


def reserve(host: str, port: int, backlog: int) -> ReservedPort:
    """Bind (not listen on) host:port with SO_REUSEPORT; OSError if someone else holds it."""
    # As uvicorn binds: IPv6 when the host is an IPv6 address, else IPv4.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:  # uvicorn's own bind
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]  # port 0 asks for a free one; all workers share it
    reserved = ReservedPort(family, socket.SOCK_STREAM)
    reserved.backlog = backlog
    try:
        _share_port(reserved)
        reserved.bind((host, port))
    except OSError:
        reserved.close()
        raise
    bound_host, bound_port = reserved.getsockname()[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    logger.info("Uvicorn running on http://%s:%d (a socket per worker)", shown, bound_port)
    return reserved


def listening_socket(family: int, address: Any, backlog: int) -> socket.socket:
    """A worker's own socket listening on the reserved address."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _share_port(sock)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _share_port(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)

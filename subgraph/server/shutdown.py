"""Graceful shutdown of an HTTP worker: on SIGTERM, answer everything received, then exit.

uvicorn's own shutdown closes every idle keep-alive connection the moment the signal arrives;
a client that sent a request on one at that moment gets a reset (wrk saw 7 under load). Here:

1. readiness turns 503 (`draining()`), and the listening sockets close: no new connections;
2. a request in flight is answered with `Connection: close`, and so is every request that
   arrives on a kept-alive connection during the drain; the connection closes after it;
3. a connection idle since the signal is closed only once it stayed idle for
   `IDLE_GRACE_SECONDS`, so a client about to send on it is not cut off mid-request;
4. then the lifespan ends (the relay finishes its round, the pool closes) and the process
   exits, within SHUTDOWN_TIMEOUT_SECONDS of the signal. A second SIGTERM (or SIGINT), or the
   timeout, forces the exit: what is still open is cut.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from subgraph import heap, parent_death

logger = logging.getLogger("uvicorn.error")

# How long a connection idle since the signal may stay open for one last request.
IDLE_GRACE_SECONDS = 1.0
# After the timeout, the grace the forced shutdown gets before the process is ended outright.
FORCED_EXIT_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.02

_drain_started: float | None = None
# Called once the drain begins, in the event loop: what must end for connections to close
# (open subscription streams, say).
_drain_hooks: list[Callable[[], None]] = []


def on_drain(hook: Callable[[], None]) -> Callable[[], None]:
    """Call `hook` when this process starts draining; returns what unregisters it."""
    _drain_hooks.append(hook)
    return lambda: _drain_hooks.remove(hook) if hook in _drain_hooks else None


def draining() -> bool:
    """Whether this process has been told to stop (readiness answers 503 from then on)."""
    return _drain_started is not None


def _start_drain() -> None:
    global _drain_started
    if _drain_started is None:
        _drain_started = time.monotonic()


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering `Connection: close` during a drain and
    never cutting an idle connection at the signal (`GracefulServer` closes it later)."""

    idle_since: float = 0.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.idle_since = time.monotonic()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if _drain_started is not None:
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        self.idle_since = time.monotonic()
        super().on_response_complete()

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            return  # idle: its next request is answered with Connection: close
        self.cycle.keep_alive = False

    def idle_for(self, now: float, drain_started: float) -> float | None:
        """Seconds idle since the later of its last answer and the signal; None when busy."""
        if self.cycle is not None and not self.cycle.response_complete:
            return None
        return now - max(self.idle_since, drain_started)


class GracefulServer(uvicorn.Server):
    """`uvicorn.Server` with the shutdown of the module docstring."""

    def __init__(self, config: uvicorn.Config, *, shutdown_timeout: float) -> None:
        super().__init__(config)
        self.shutdown_timeout = shutdown_timeout
        self._deadline: float | None = None

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        if self.config.workers > 1:
            parent_death.die_with_parent()  # a worker: SIGTERM when `serve` exits
        super().run(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:  # started: the app's lifespan built what it keeps
            heap.freeze_startup_objects()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._captured_signals.append(sig)
        if self.should_exit:
            logger.warning("second signal: exiting now")
            self.force_exit = True
            return
        self.should_exit = True
        self._deadline = time.monotonic() + self.shutdown_timeout
        _start_drain()
        # The backstop: a shutdown stuck past its timeout (and a grace) ends the process.
        timer = threading.Timer(
            self.shutdown_timeout + FORCED_EXIT_GRACE_SECONDS, _exit_now, args=(sig,)
        )
        timer.daemon = True
        timer.start()

    async def _accept_queued(self) -> None:
        """Accept every connection waiting in the listeners' queues, served like any other
        (their requests are answered with `Connection: close`, as the drain has begun)."""
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            return self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state
            )

        for server in self.servers:
            for listening in server.sockets:
                # A duplicate of the listening descriptor: accepting on it takes from the same
                # queue, and closing it leaves the original to `server.close()`.
                with socket.socket(fileno=os.dup(listening.fileno())) as listener:
                    listener.setblocking(False)
                    while True:
                        try:
                            accepted, _ = listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        accepted.setblocking(False)
                        await loop.connect_accepted_socket(protocol, accepted)

    def _overdue(self) -> bool:
        if self.force_exit:
            return True
        if self._deadline is not None and time.monotonic() > self._deadline:
            logger.error("shutdown timeout (%.0f s) reached: exiting", self.shutdown_timeout)
            self.force_exit = True
        return self.force_exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        logger.info("Shutting down: answering what was received, accepting nothing new")
        _start_drain()
        for hook in list(_drain_hooks):
            hook()
        drain_started = _drain_started or time.monotonic()
        if self._deadline is None:
            self._deadline = time.monotonic() + self.shutdown_timeout
        # Closing a listening socket resets the connections the kernel queued but we had not
        # accepted yet, and a request already sent on one: take them in first.
        await self._accept_queued()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()

        while self.server_state.connections and not self._overdue():
            now = time.monotonic()
            for connection in list(self.server_state.connections):
                idle = getattr(connection, "idle_for", None)
                seconds = idle(now, drain_started) if idle is not None else 0.0
                if seconds is not None and seconds >= IDLE_GRACE_SECONDS:
                    connection.transport.close()
            await asyncio.sleep(POLL_SECONDS)
        while self.server_state.tasks and not self._overdue():  # noqa: ASYNC110 - uvicorn's set
            await asyncio.sleep(POLL_SECONDS)
        if self.force_exit:
            for connection in list(self.server_state.connections):
                connection.transport.close()
            for task in self.server_state.tasks:
                task.cancel(msg="shutdown forced")
            return
        for server in self.servers:
            await server.wait_closed()
        # The lifespan's end: the relay finishes its round, the pool closes.
        ending = asyncio.ensure_future(self.lifespan.shutdown())
        while not ending.done() and not self._overdue():
            await asyncio.wait({ending}, timeout=0.1)
        if not ending.done():
            ending.cancel()


def _exit_now(sig: int) -> None:
    logger.error("shutdown did not finish in time: exiting")
    os._exit(128 + sig)


def run(config: uvicorn.Config, *, shutdown_timeout: float) -> bool:
    """Serve `config` until signalled, shutting down gracefully; whether it started."""
    server = GracefulServer(config, shutdown_timeout=shutdown_timeout)
    server.run()
    return server.started

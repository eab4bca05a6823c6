"""A TCP proxy a test puts between a served process and its database, to cut the wire.

``TcpProxy(target_port)`` listens on 127.0.0.1 (a free port) and relays every connection to
``target_host:target_port``. It runs its own event loop in a thread of its own, so it keeps
relaying (or keeps silent) whatever the test's event loop or main thread are doing, and a
served process in another process connects to ``proxy.port`` like to any server.

Modes:

- ``forward()``: relay bytes both ways (the start state).
- ``silence()``: a partition. New connections are accepted and never answered (no connection
  to the target is made); open connections stop relaying bytes in both directions and are not
  closed. Clients see timeouts, not errors. ``forward()`` heals it: held bytes flow again and
  held new connections are connected to the target then.
- ``reset()``: abort every open connection with a TCP RST, both to the client and to the
  target (the mode stays as it was).
- ``stall_on(pattern, side)``: once a client sends bytes containing ``pattern`` (say
  ``b"COMMIT"``, which asyncpg sends as a simple query), hold that connection: ``"request"``
  holds those bytes and all after them (the server never sees them), ``"reply"`` lets them
  through and holds everything the server answers on it. ``unstall()`` lets it all flow;
  ``stalled`` counts the connections caught so far.

Every call from outside waits (bounded) until the proxy's loop has applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self, TypeVar

Mode = Literal["forward", "silent"]
Side = Literal["request", "reply"]
CONTROL_TIMEOUT = 5.0  # seconds for start, stop and every mode change
CONNECT_TIMEOUT = 5.0  # the proxy's own connection to the target
CHUNK = 65536

T = TypeVar("T")


class ProxyError(RuntimeError):
    """The proxy did not start, stop or change mode in time."""


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    reply_held: bool = False


def _abort(writer: asyncio.StreamWriter | None, *, rst: bool = False) -> None:
    """Close now, without flushing; with ``rst`` the peer gets a TCP RST, not a FIN."""
    if writer is None or (writer.transport.is_closing() and not rst):
        return
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """``with TcpProxy(pg.port) as proxy: ... proxy.silence() ... proxy.forward()``."""

    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._connect_timeout = connect_timeout
        self._mode: Mode = "forward"
        self._accepted = 0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._done: asyncio.Event | None = None
        self._stall: tuple[bytes, Side] | None = None
        self._unstalled: asyncio.Event | None = None
        self.stalled = 0

    # -- what a test reads ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise ProxyError("the proxy is not started")
        return self._port

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def connections(self) -> int:
        """Client connections open right now (relayed or held)."""
        return len(self._links)

    @property
    def accepted(self) -> int:
        """Client connections accepted since start."""
        return self._accepted

    def wait_for_connections(
        self, predicate: Callable[[int], bool], timeout: float = CONTROL_TIMEOUT
    ) -> int:
        """Poll ``connections`` until ``predicate(connections)``; return it, or raise."""
        deadline = time.monotonic() + timeout
        while not predicate(count := self.connections):
            if time.monotonic() > deadline:
                raise ProxyError(f"connections stayed at {count} for {timeout:.0f} s")
            time.sleep(0.01)
        return count

    # -- control -------------------------------------------------------------------------

    def start(self, timeout: float = CONTROL_TIMEOUT) -> Self:
        if self._thread is not None:
            raise ProxyError("the proxy is already started")
        started: Future[int] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=f"TcpProxy->{self.target_port}", daemon=True
        )
        self._thread.start()
        try:
            self._port = started.result(timeout=timeout)
        except BaseException as error:
            self.stop(timeout)
            raise ProxyError(f"the proxy did not start: {error!r}") from error
        return self

    def stop(self, timeout: float = CONTROL_TIMEOUT) -> None:
        """Close the listener and every connection (RST), end the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(self._request_stop)
        thread.join(timeout)
        if thread.is_alive():
            raise ProxyError(f"the proxy thread did not end within {timeout:.0f} s")
        self._thread = None
        self._port = None

    def forward(self) -> None:
        """Relay again: held bytes flow, held new connections reach the target."""
        self._call(self._set_mode, "forward")

    def silence(self) -> None:
        """Partition: accept and never answer; open connections stop relaying, stay open."""
        self._call(self._set_mode, "silent")

    def stall_on(self, pattern: bytes, side: Side) -> None:
        """Hold a connection's request (or its replies) from the bytes holding ``pattern``."""
        self._call(self._set_stall, (pattern, side))

    def unstall(self) -> None:
        """Stop stalling; what was held flows."""
        self._call(self._set_stall, None)

    def reset(self) -> int:
        """RST every open connection on both sides; return how many client connections."""
        return self._call(self._reset_all)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<TcpProxy 127.0.0.1:{self._port} -> {self.target_host}:{self.target_port}"
            f" {self._mode} connections={self.connections}>"
        )

    # -- the proxy's own thread ----------------------------------------------------------

    def _call(self, function: Callable[..., T], *args: object) -> T:
        loop = self._loop
        if loop is None or self._thread is None:
            raise ProxyError("the proxy is not started")
        done: Future[T] = Future()

        def apply() -> None:
            try:
                done.set_result(function(*args))
            except BaseException as error:
                done.set_exception(error)

        loop.call_soon_threadsafe(apply)
        try:
            return done.result(timeout=CONTROL_TIMEOUT)
        except TimeoutError:
            raise ProxyError(f"the proxy did not answer within {CONTROL_TIMEOUT:.0f} s") from None

    def _run(self, started: Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
        finally:
            loop.close()

    async def _serve(self, started: Future[int]) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._unstalled = asyncio.Event()
        self._unstalled.set()
        self._done = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle, self.host, self._requested_port, reuse_address=True
        )
        port: int = self._server.sockets[0].getsockname()[1]
        started.set_result(port)
        await self._done.wait()
        self._server.close()
        tasks = [task for link in self._links for task in link.tasks]
        for link in list(self._links):
            _abort(link.client, rst=True)
            _abort(link.upstream, rst=True)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CONTROL_TIMEOUT)
        await asyncio.wait_for(self._server.wait_closed(), CONTROL_TIMEOUT)

    def _request_stop(self) -> None:
        if self._done is not None:
            self._done.set()

    def _set_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode == "forward":
            self._flowing.set()
        else:
            self._flowing.clear()

    def _set_stall(self, stall: tuple[bytes, Side] | None) -> None:
        assert self._unstalled is not None
        self._stall = stall
        if stall is None:
            self._unstalled.set()
        else:
            self._unstalled.clear()

    def _reset_all(self) -> int:
        links = list(self._links)
        for link in links:
            _abort(link.client, rst=True)
            _abort(link.upstream, rst=True)
        return len(links)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        link = _Link(writer)
        task = asyncio.current_task()
        assert task is not None
        link.tasks.add(task)
        self._links.add(link)
        self._accepted += 1
        try:
            await self._flowing.wait()  # silent: accepted, never answered
            try:
                upstream_reader, upstream = await asyncio.wait_for(
                    asyncio.open_connection(self.target_host, self.target_port),
                    self._connect_timeout,
                )
            except (OSError, TimeoutError):
                _abort(writer, rst=True)  # the target is down: the client sees a reset
                return
            link.upstream = upstream
            await asyncio.gather(
                self._pump(reader, upstream, link, to_target=True),
                self._pump(upstream_reader, writer, link, to_target=False),
            )
        except asyncio.CancelledError:
            _abort(writer, rst=True)
            _abort(link.upstream, rst=True)
            raise
        finally:
            self._links.discard(link)
            _abort(writer)
            _abort(link.upstream)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: _Link,
        *,
        to_target: bool,
    ) -> None:
        assert self._flowing is not None and self._unstalled is not None
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(CHUNK)
                # Silenced while the read was pending: hold what came (bytes or EOF).
                await self._flowing.wait()
                stall = self._stall
                if to_target and stall is not None and stall[0] in data:
                    self.stalled += 1
                    if stall[1] == "request":
                        await self._unstalled.wait()
                    else:
                        link.reply_held = True
                if not to_target and link.reply_held:
                    await self._unstalled.wait()
                    link.reply_held = False
                if not data:
                    if sink.can_write_eof() and not sink.transport.is_closing():
                        sink.write_eof()
                    return
                sink.write(data)
                await sink.drain()
        except (OSError, RuntimeError):
            # One side reset (or was reset by reset()): the other side gets a reset too.
            _abort(link.client, rst=True)
            _abort(link.upstream, rst=True)

"""The coalescing transport: a response's writes leave in one `send`, nothing is lost or late."""

from __future__ import annotations

import asyncio

from subgraph.overrides.coalesced_writes import CoalescingTransport


class RecordingTransport:
    """Stands in for uvloop's TCP transport: records what reaches the socket."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 5000) if name == "sockname" else None


async def test_writes_of_one_loop_step_leave_in_one_send_at_the_end_of_the_step() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))
    assert socket.sent == []  # nothing yet: the step has not ended
    await asyncio.sleep(0)
    assert socket.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]

    transport.write(b"next response")  # a later step gets a send of its own
    await asyncio.sleep(0)
    assert socket.sent[1:] == [b"next response"]


async def test_close_sends_what_is_pending_first_and_a_closed_socket_gets_nothing() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.close()
    assert socket.sent == [b"last words"]
    assert socket.closed

    transport.write(b"too late")
    await asyncio.sleep(0)
    assert socket.sent == [b"last words"]


async def test_everything_else_is_the_wrapped_transports_own() -> None:
    socket = RecordingTransport()
    transport = CoalescingTransport(socket, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 5000)
    assert transport.is_closing() is False

"""AMQP frames already queued are written to RabbitMQ's socket together, in one write.

aiormq's connection has one writer task. It takes the queued payloads one at a time (a
publish's method, header and body frames are one payload) and calls `StreamWriter.write` for
each: on loopback each call is a send syscall and a TCP segment that RabbitMQ then reads on
its own. The relay queues a whole batch of publishes in one loop step (up to
OUTBOX_BATCH_SIZE of them), and the writer wrote them one by one: under placeOrder, 25 % of
the messaging process's CPU samples were in those writes (py-spy, 2026-12-08).

Here the writer's iterator over its queue (aiormq's `FrameGenerator`) hands over every payload
already waiting, joined: the same bytes in the same order, one write. A payload the writer
must drain after writing (a connection close, or a publish whose caller waits for its write)
is never joined: what was gathered before it is handed over first, then it alone, as before.
A join stops at MAX_JOINED bytes. Nothing waits for more frames to arrive, so no frame is
written later than it would have been. aiormq's write queue holds 10 payloads, and a publish
waits for room in it holding its channel's lock, so after the first ten a batch's publishes
were queued one per loop step, each written alone: the queue is made large enough for a
batch.

Measured (`python -m bench.processes --cell placeOrder --rounds 4`, this override on against
off in alternation, `bench/results/processes-2026-12-08-amqp-writes.json`): CPU per placed
order of the messaging process 0.77x (0.65..0.86), of RabbitMQ 0.52x (0.44..0.55);
placeOrder's req/s 1.05x (1.04..1.10).

Library internals used: the module attribute `aiormq.connection.FrameGenerator` (the writer
builds one per connection, by that name, when the connection starts), its `queue` and
`close_event`; `aiormq.abc.ChannelFrame` (`payload`, `should_close`, `should_drain`); the
class attribute `aiormq.connection.Connection.FRAME_BUFFER_SIZE` (the write queue's size, read
when a connection is built).
Installed for the process by `install()` before its broker connects (messaging/broker.py).
`tests/messaging/test_amqp_writes.py` checks the joins against the queue and publishes through
a real RabbitMQ with confirms. Switch: LIBRARY_OVERRIDES name `amqp_writes`; off, aiormq
writes each payload as it comes.
"""

from __future__ import annotations

import asyncio

from aiormq import connection as _connection
from aiormq.abc import ChannelFrame

MAX_JOINED = 256 * 1024  # bytes handed to one write at most (a frame is never split)
# Payloads a connection's write queue holds (aiormq: 10). A publish holds its channel's lock
# while it waits for room in the queue, so with 10 a relay batch went out one publish per loop
# step after the first ten, each written on its own; with room for a whole batch
# (OUTBOX_BATCH_SIZE is at most 1,000) its publishes are queued in one step and joined.
WRITE_QUEUE_SIZE = 1024

_LIBRARY_GENERATOR = _connection.FrameGenerator
_LIBRARY_QUEUE_SIZE = _connection.Connection.FRAME_BUFFER_SIZE


class JoiningFrameGenerator(_LIBRARY_GENERATOR):  # type: ignore[misc]
    """aiormq's iterator over a connection's write queue, payloads already queued joined."""

    def __init__(self, queue: asyncio.Queue[ChannelFrame]) -> None:
        super().__init__(queue)
        self._held: ChannelFrame | None = None  # taken from the queue, to hand over next

    async def __anext__(self) -> ChannelFrame:
        held = self._held
        if held is not None:
            self._held = None
            if self.close_event.is_set():
                raise StopAsyncIteration
            return held
        first: ChannelFrame = await super().__anext__()
        queue = self.queue
        if first.should_close or first.should_drain or queue.empty():
            return first
        parts = [first.payload]
        size = len(first.payload)
        while size < MAX_JOINED:
            try:
                frame: ChannelFrame = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            queue.task_done()
            if frame.should_close or frame.should_drain:
                self._held = frame  # written after what was gathered, with its drain
                break
            parts.append(frame.payload)
            size += len(frame.payload)
        if len(parts) == 1:
            return first
        return ChannelFrame(payload=b"".join(parts), should_close=False)


def install() -> None:
    """Connections this process opens from now on join their queued writes."""
    _connection.FrameGenerator = JoiningFrameGenerator  # type: ignore[misc]
    _connection.Connection.FRAME_BUFFER_SIZE = WRITE_QUEUE_SIZE


def uninstall() -> None:
    """Back to aiormq's own iterator (tests)."""
    _connection.FrameGenerator = _LIBRARY_GENERATOR  # type: ignore[misc]
    _connection.Connection.FRAME_BUFFER_SIZE = _LIBRARY_QUEUE_SIZE

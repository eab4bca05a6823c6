"""`amqp_writes`: payloads already queued for RabbitMQ's socket go out joined, the same bytes in
the same order; a payload to drain after goes alone; and a relay batch through a real broker
with confirms arrives whole, in order, in fewer writes than messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import aio_pika
import pytest
from aiormq.abc import ChannelFrame

from subgraph.messaging.broker import declare_topology, make_broker
from subgraph.messaging.publisher.events import EventPublisher
from subgraph.overrides import amqp_writes
from subgraph.overrides.amqp_writes import JoiningFrameGenerator
from subgraph.persistence.outbox import OutboxMessage
from tests.messaging.conftest import fast_settings


def plain(payload: bytes) -> ChannelFrame:
    return ChannelFrame(payload=payload, should_close=False)


async def handed_over(frames: list[ChannelFrame]) -> list[ChannelFrame]:
    """What the writer is handed for `frames` queued before it looks (aiormq's writer writes
    each handed-over payload once); every frame taken from the queue is marked done."""
    queue: asyncio.Queue[ChannelFrame] = asyncio.Queue()
    for frame in frames:
        queue.put_nowait(frame)
    generator = JoiningFrameGenerator(queue)
    out = []
    while not queue.empty() or generator._held is not None:
        out.append(await generator.__anext__())
    await asyncio.wait_for(queue.join(), 1)  # every frame taken was marked done
    return out


async def test_queued_payloads_are_joined_in_order() -> None:
    out = await handed_over([plain(b"a1"), plain(b"b22"), plain(b"c333")])
    assert [f.payload for f in out] == [b"a1b22c333"]
    assert not out[0].should_close and not out[0].should_drain


async def test_a_payload_to_drain_after_goes_alone_after_what_came_before() -> None:
    loop = asyncio.get_running_loop()
    drained = loop.create_future()
    closing = ChannelFrame(payload=b"close", should_close=True)
    out = await handed_over(
        [
            plain(b"a"),
            plain(b"b"),
            ChannelFrame(payload=b"wait", should_close=False, drain_future=drained),
            plain(b"c"),
            closing,
        ]
    )
    assert [f.payload for f in out] == [b"ab", b"wait", b"c", b"close"]
    assert out[1].drain_future is drained  # the writer drains and resolves it, as before
    assert out[3] is closing


async def test_a_join_stops_at_its_size_bound() -> None:
    big = b"x" * (amqp_writes.MAX_JOINED // 3 + 1)
    out = await handed_over([plain(big) for _ in range(5)])
    assert [len(f.payload) for f in out] == [3 * len(big), 2 * len(big)]


async def test_a_lone_payload_is_handed_over_as_it_came() -> None:
    frame = plain(b"only")
    assert await handed_over([frame]) == [frame]


async def test_nothing_is_handed_over_once_the_connection_closes() -> None:
    queue: asyncio.Queue[ChannelFrame] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for frame in (plain(b"a"), ChannelFrame(b"w", False, loop.create_future())):
        queue.put_nowait(frame)
    generator = JoiningFrameGenerator(queue)
    assert (await generator.__anext__()).payload == b"a"
    generator.close_event.set()
    with pytest.raises(StopAsyncIteration):
        await generator.__anext__()


# --- through RabbitMQ -------------------------------------------------------------------------

BATCH = 300


@pytest.fixture
def joining() -> Iterator[None]:
    amqp_writes.install()
    try:
        yield
    finally:
        amqp_writes.uninstall()


def event(n: int) -> OutboxMessage:
    payload = {"event_id": f"e-{n}", "event_type": "order.placed", "order": {"id": str(n)}}
    return OutboxMessage(
        id=n,
        event_id=f"e-{n}",
        event_type="order.placed",
        order_id=n,
        payload=json.dumps(payload) + " " * (n % 50),  # bodies of different lengths
        attempts=0,
        created_at=datetime(2026, 12, 8, 4, 0, tzinfo=UTC),
    )


@pytest.mark.rabbitmq
async def test_a_relay_batch_is_confirmed_and_arrives_whole_in_order_in_fewer_writes(
    rabbit_vhost: str,
    queue: aio_pika.abc.AbstractQueue,
    joining: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = make_broker(fast_settings(rabbit_vhost))
    await broker.connect()
    try:
        await declare_topology(broker, consume=False)
        writes = 0
        library_write = asyncio.StreamWriter.write

        def counted(self: asyncio.StreamWriter, data: bytes) -> None:
            nonlocal writes
            writes += 1
            library_write(self, data)

        monkeypatch.setattr(asyncio.StreamWriter, "write", counted)
        publisher = EventPublisher(broker, timeout_seconds=5.0, direct=True)
        events = [event(n) for n in range(BATCH)]
        outcomes = await asyncio.gather(*(publisher.publish(e) for e in events))
        monkeypatch.undo()
        assert outcomes == [None] * BATCH  # each one confirmed by the broker
        assert 0 < writes < BATCH // 10
    finally:
        await broker.stop()
    received = []
    for _ in range(BATCH):
        message = await queue.get(timeout=10, fail=True)
        assert message is not None
        await message.ack()
        received.append((message.message_id, message.body.decode()))
    assert received == [(e.event_id, e.payload) for e in events]

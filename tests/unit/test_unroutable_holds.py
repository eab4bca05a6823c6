"""After the broker returns an event, its routing key waits; then one event probes the broker."""

from __future__ import annotations

from datetime import UTC, datetime

from subgraph.messaging.publisher.holds import UnroutableHolds
from subgraph.persistence.outbox import OutboxMessage, RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def message(row: int, event_type: str) -> OutboxMessage:
    return OutboxMessage(
        id=row,
        event_id=f"e{row}",
        event_type=event_type,
        order_id=row,
        payload="{}",
        attempts=0,
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )


def holds(clock: Clock) -> UnroutableHolds:
    return UnroutableHolds(RetryPolicy(base_seconds=1, max_seconds=4), clock=clock)


BATCH = [
    message(1, "order.placed"),
    message(2, "order.updated"),
    message(3, "order.placed"),
    message(4, "order.placed"),
]


def test_nothing_is_held_until_the_broker_returns_an_event() -> None:
    h = holds(Clock())
    assert h.held() == []
    assert h.pick(BATCH) == BATCH
    assert h.routed("order.placed") is False


def test_a_returned_key_is_held_for_longer_after_each_return_up_to_the_cap() -> None:
    clock = Clock()
    h = holds(clock)
    lengths = []
    for _ in range(5):
        lengths.append(h.returned("order.placed"))
        assert h.held() == ["order.placed"]
        clock.now += lengths[-1]
        assert h.held() == []
    assert lengths == [1, 2, 4, 4, 4]


def test_when_a_hold_ends_one_event_of_that_key_probes_and_the_others_go_as_usual() -> None:
    clock = Clock()
    h = holds(clock)
    h.returned("order.placed")
    clock.now += 1
    assert [m.id for m in h.pick(BATCH)] == [1, 2]


def test_a_routed_probe_lifts_the_hold() -> None:
    clock = Clock()
    h = holds(clock)
    h.returned("order.placed")
    h.returned("order.placed")
    assert h.routed("order.placed") is True
    assert h.held() == []
    assert h.pick(BATCH) == BATCH
    assert h.returned("order.placed") == 1  # a new streak starts from the base delay

"""Holding back the events of a routing key the broker cannot route.

Events are published as mandatory messages: with no queue bound for their routing key, the
broker returns them and each counts as a failed attempt. Retried one by one, a backlog of such
events kept the relay busy for nothing (14,860 waiting events held about 45% of a core, each
row retried at the backoff cap). After a return, the key is held: its events are not claimed
until the hold ends, then a single event probes the broker. A probe that is routed lifts the
hold; one that is returned holds the key again, for twice as long, up to the retry cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from subgraph.persistence.outbox import OutboxMessage, RetryPolicy


@dataclass
class _Hold:
    until: float
    returns: int


class UnroutableHolds:
    """Which routing keys (event types) are held back, and for how long."""

    def __init__(self, retry: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._retry = retry
        self._clock = clock
        self._holds: dict[str, _Hold] = {}

    def held(self) -> list[str]:
        """The keys whose events must not be claimed now."""
        now = self._clock()
        return sorted(key for key, hold in self._holds.items() if hold.until > now)

    def pick(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """What to publish of the claimed messages: all, except a single probe of each key
        whose hold has ended; the others stay unpublished, untouched, for the next round."""
        picked, probing = [], set()
        for message in messages:
            key = message.event_type
            if key in self._holds:
                if key in probing:
                    continue
                probing.add(key)
            picked.append(message)
        return picked

    def returned(self, key: str) -> float:
        """The broker returned an event of `key`: hold it; the hold's length in seconds."""
        hold = self._holds.get(key)
        returns = hold.returns + 1 if hold else 1
        seconds = self._retry.delay(returns).total_seconds()
        self._holds[key] = _Hold(until=self._clock() + seconds, returns=returns)
        return seconds

    def routed(self, key: str) -> bool:
        """An event of `key` reached a queue: lift its hold; True when there was one."""
        return self._holds.pop(key, None) is not None

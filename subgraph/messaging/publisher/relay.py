"""The outbox relay: publish stored events after commit, retry failures, prune old rows.

Delivery is at least once: a row is marked published only after the broker confirmed it, so a
crash between the confirm and the mark publishes that event again (consumers de-duplicate on
the message id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from subgraph.messaging.publisher.events import Unroutable
from subgraph.messaging.publisher.holds import UnroutableHolds
from subgraph.messaging.publisher.wakeups import Wakeups
from subgraph.persistence.inbox import ProcessedMessages
from subgraph.persistence.outbox import OutboxMessage, OutboxStore, RetryPolicy
from subgraph.persistence.writes import forget_idempotency_keys
from subgraph.telemetry import messaging as telemetry

logger = logging.getLogger("subgraph.messaging.relay")

PRUNE_EVERY = timedelta(minutes=10)

Publish = Callable[[OutboxMessage], Awaitable[None]]


@dataclass(frozen=True)
class RelayOptions:
    """The relay's knobs (from Settings)."""

    batch_size: int
    poll_seconds: float
    gather_seconds: float  # pause before a round that follows a partial one
    retention: timedelta
    retry: RetryPolicy
    key_retention: timedelta = timedelta(hours=24)  # placeOrder's idempotency keys


class OutboxRelay:
    """Publishes the outbox in rounds until cancelled."""

    def __init__(
        self,
        *,
        store: OutboxStore,
        publish: Publish,
        wakeups: Wakeups,
        options: RelayOptions,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.publish = publish
        self.wakeups = wakeups
        self.options = options
        self.clock = clock
        self.holds = UnroutableHolds(options.retry)
        self._pruned_at: datetime | None = None

    async def publish_round(self) -> int:
        """Publish one batch of claimed rows; returns how many were claimed."""
        started = time.monotonic()
        held = self.holds.held()
        async with self.store.claim(limit=self.options.batch_size, skipping=held) as claim:
            if not claim.messages:
                return 0
            claimed = time.monotonic()
            batch = self.holds.pick(claim.messages)
            # Concurrent: a claim holds at most one row per order, so order is not at stake.
            outcomes = await asyncio.gather(
                *(self.publish(m) for m in batch), return_exceptions=True
            )
            returned, routed = set(), set()
            for message, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if isinstance(outcome, BaseException):
                    claim.mark_failed(message, str(outcome) or type(outcome).__name__)
                    telemetry.publish_failed(message.event_type, outcome)  # observability
                    if isinstance(outcome, Unroutable):
                        returned.add(message.event_type)
                else:
                    claim.mark_published(message)
                    telemetry.published(message.event_type, message.created_at)  # observability
                    routed.add(message.event_type)
            published = time.monotonic()
        self._update_holds(returned, routed)
        logger.debug(
            "outbox: %d events: claim %.0f ms, publish %.0f ms, record %.0f ms",
            len(batch),
            (claimed - started) * 1000,
            (published - claimed) * 1000,
            (time.monotonic() - published) * 1000,
        )
        if claim.failed:
            first = next(iter(claim.failed.values()))
            logger.warning(
                "outbox: %d of %d events not published, will retry: %s",
                len(claim.failed),
                len(batch),
                first,
            )
        return len(claim.messages)

    def _update_holds(self, returned: set[str], routed: set[str]) -> None:
        for key in sorted(routed):
            if self.holds.routed(key):
                logger.info("outbox: %s events are routed again; hold lifted", key)
        for key in sorted(returned - routed):
            seconds = self.holds.returned(key)
            logger.warning(
                "outbox: no queue is bound for %s; its events wait in the outbox, "
                "next try in %.1f s",
                key,
                seconds,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set: a round, then wait for a NOTIFY or the poll interval.

        Stopping lets the current round finish, so rows already confirmed by the broker are
        marked published instead of being published again by another relay.
        """
        failures = 0
        while not stop.is_set():
            try:
                self.wakeups.clear()  # this round reads what every notice so far announced
                claimed = await self.publish_round()
                await self._prune_now_and_then()
                failures = 0
            except Exception as error:  # noqa: BLE001 - the database may be away; retry later
                failures += 1
                delay = self.options.retry.delay(failures).total_seconds()
                logger.warning(
                    "outbox relay round failed (%s); retrying in %.1f s",
                    type(error).__name__,
                    delay,
                )
                await _until(asyncio.sleep(delay), stop)
                continue
            partial = claimed < self.options.batch_size
            if claimed == 0 or (partial and not self.wakeups.pending()):
                # Nothing more was announced since this round's claim (which took everything
                # claimable): wait for a notice or the poll interval. A burst of commits is
                # then one claim, not one per commit, nor an empty claim after it.
                await _until(self.wakeups.wait(self.options.poll_seconds), stop)
            if partial and self.options.gather_seconds > 0:
                # Each round is a transaction with a commit; under a stream of single-event
                # commits, rounds of 2-3 events cost PostgreSQL more than the requests did.
                # A short pause lets the round take what lands meanwhile.
                await _until(asyncio.sleep(self.options.gather_seconds), stop)

    async def _prune_now_and_then(self) -> None:
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        cutoff = now - self.options.retention
        pruned = await self.store.prune(published_before=cutoff)
        forgotten = await ProcessedMessages(self.store.engine).prune(processed_before=cutoff)
        keys = await forget_idempotency_keys(
            self.store.engine, placed_before=now - self.options.key_retention
        )
        if pruned or forgotten or keys:
            logger.info(
                "outbox: pruned %d published events, %d processed ids and %d idempotency keys",
                pruned,
                forgotten,
                keys,
            )


async def _until(pause: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Await `pause`, cut short when `stop` is set."""
    waiting = asyncio.ensure_future(pause)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, stopping):
            task.cancel()
        await asyncio.gather(waiting, stopping, return_exceptions=True)

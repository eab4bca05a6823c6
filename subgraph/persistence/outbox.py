"""The `order_outbox` table, its one owner: events written at commit, then claimed, marked and
pruned by the relay.

A claim takes only the oldest unpublished row of each order, so an order's events leave in the
order they were written even when several relays run, and a failing event holds back the
later events of its own order only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from piccolo.engine.base import Engine

from subgraph.domain.events import OrderEvent
from subgraph.persistence.engine import is_postgres
from subgraph.persistence.mapping import as_datetime
from subgraph.persistence.sql import fetch, ids_in
from subgraph.persistence.transactions import transaction
from subgraph.telemetry import tracing

MAX_ERROR_LENGTH = 500


def payload_json(payload: dict[str, Any]) -> str:
    """An event's payload (`OrderEvent.as_payload()`) as the compact JSON text a row stores.

    orjson, not the standard `json` module, whose `dumps` builds a new encoder on every call
    given `separators`: placeOrder's profile put it first among the costs of the event. Both
    write compact JSON that reads back to the same values (NUL as `\\u0000` in both); orjson
    writes non-ASCII characters as UTF-8 instead of `\\u` escapes. Text orjson refuses (a lone
    surrogate, which the request guards never let through) still goes through `json`.
    """
    try:
        return orjson.dumps(payload).decode()
    except orjson.JSONEncodeError:
        return json.dumps(payload, separators=(",", ":"))


# Placeholders only (`{{}}`, doubled for str.format); no value is ever formatted into the
# text, and `{skipping}` only takes a condition written in `_select`.
# The head test is a correlated subquery: one probe of the partial index (order_id, id) per
# candidate. As NOT EXISTS the planner could pick an anti join comparing each candidate with
# every unpublished row.
_HEADS_OF_ORDERS = """
SELECT o.id, o.event_id, o.event_type, o.order_id, o.payload, o.attempts, o.created_at,
       o.trace_context
FROM order_outbox AS o
WHERE o.published_at IS NULL
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= {{}})
  AND o.id = (
      SELECT head.id FROM order_outbox AS head
      WHERE head.order_id = o.order_id AND head.published_at IS NULL
      ORDER BY head.id
      LIMIT 1
  ){skipping}
ORDER BY o.id
LIMIT {{}}
"""
_LOCK = "FOR UPDATE OF o SKIP LOCKED"

# What a claim needs of PostgreSQL's planner (why: in `OutboxStore.claim`). A process whose
# pool serves only the relay and the inventory consumer (`orders-subgraph relay`) opens its
# connections with these (asyncpg's `server_settings`, sent with the connection's start-up,
# so no round trip); where the relay shares the app's pool, each claim sets them for its own
# transaction, one more statement, as the app's reads keep their cached generic plans.
CLAIM_PLANNER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}

# A round's outcome in one statement, whatever the batch size and however many failed: the
# rows travel as arrays (one statement text, prepared once). A published row is stamped and
# its error cleared; a failed one gets its attempt count, its next try and its error.
_MARK = """
UPDATE order_outbox AS o
SET published_at = CASE WHEN r.failed THEN o.published_at ELSE {} END,
    attempts = o.attempts + 1,
    next_attempt_at = CASE WHEN r.failed THEN r.next_attempt_at ELSE o.next_attempt_at END,
    last_error = r.error
FROM unnest({}::bigint[], {}::boolean[], {}::timestamptz[], {}::text[])
     AS r(id, failed, next_attempt_at, error)
WHERE o.id = r.id
"""


async def write_events(engine: Engine[Any], events: Sequence[OrderEvent]) -> None:
    """Store events to publish, in one statement; the unit of work calls this right before it
    commits, inside its transaction."""
    # `created_at` is when the row is written, just before the commit, so the relay's lag
    # (`published_at - created_at`) is commit to broker ack; when the change happened is the
    # event's own `occurred_at`, in the payload.
    written_at = datetime.now(UTC)
    # Observability: the transaction's trace context, so the relay's publish joins its trace.
    trace_context = tracing.current_context() if tracing.ACTIVE else None
    values: list[Any] = []
    for e in events:
        payload = payload_json(e.as_payload())
        values += [e.event_id, e.event_type, e.order_id, payload, written_at, trace_context]
    if values:
        rows = ", ".join("({}, {}, {}, {}, {}, {}, 0)" for _ in events)
        await fetch(
            engine,
            "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, "  # noqa: S608 - placeholders only
            f"trace_context, attempts) VALUES {rows}",
            *values,
        )


@dataclass(frozen=True)
class OutboxMessage:
    """One stored event waiting to be published."""

    id: int
    event_id: str
    event_type: str
    order_id: int
    payload: str
    attempts: int
    created_at: datetime
    trace_context: str | None = None  # W3C headers (JSON) of the transaction that wrote it


@dataclass
class Claim:
    """Rows one relay holds for one publishing round, and what became of each."""

    messages: list[OutboxMessage]
    published: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def mark_published(self, message: OutboxMessage) -> None:
        self.published.append(message.id)

    def mark_failed(self, message: OutboxMessage, error: str) -> None:
        self.failed[message.id] = error[:MAX_ERROR_LENGTH]


@dataclass(frozen=True)
class Backlog:
    """How much is waiting: the count of unpublished events and when the oldest was written."""

    unpublished: int
    oldest_created_at: datetime | None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for failed publishes: base * 2^(attempts-1), capped."""

    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        seconds = self.base_seconds * 2 ** min(max(attempts - 1, 0), 30)
        return timedelta(seconds=min(seconds, self.max_seconds))


class OutboxStore:
    """The outbox table as the relay uses it.

    On PostgreSQL a claim is a transaction that locks its rows until the round is recorded,
    so a relay that dies mid-round releases them at once. On SQLite a single relay is assumed:
    rows are read without locks and the outcome is written in one short transaction, so
    requests never wait on a publish.
    """

    def __init__(
        self,
        engine: Engine[Any],
        retry: RetryPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.retry = retry
        self.clock = clock
        configured = getattr(engine, "config", {}).get("server_settings") or {}
        self._planner_set_per_connection = all(
            configured.get(name) == value for name, value in CLAIM_PLANNER_SETTINGS.items()
        )

    @asynccontextmanager
    async def claim(self, *, limit: int, skipping: Sequence[str] = ()) -> AsyncIterator[Claim]:
        """Yield up to `limit` publishable rows, none of the event types `skipping`; on exit,
        store which were published or failed (a row neither marked is left as it was).

        An exception inside the block records nothing: the rows stay unpublished.
        """
        if is_postgres(self.engine):
            async with transaction(self.engine):
                # A prepared statement gets a generic plan after five runs, built from the
                # statistics of that moment; from an outbox analyzed while empty it was a
                # sequential scan per candidate, quadratic in the table, and a backlog then
                # slowed claims (0.2 -> 1.6 s at 2,500 rows) until the relay fell behind for
                # good. Planned afresh each round (~0.1 ms), the claim reads a few rows per event.
                # Its estimate (the head test per candidate) passes jit_above_cost once ~15,000
                # events wait unpublished (a broker outage, a held routing key): JIT compiling
                # then cost ~9 ms of PostgreSQL CPU per claim, against 0.8 ms without, for a
                # statement that reads a few hundred rows.
                if not self._planner_set_per_connection:
                    await fetch(
                        self.engine,
                        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                        "set_config('jit', 'off', true)",
                    )
                claim = Claim(await self._select(limit, skipping, postgres=True))
                yield claim
                await self._record(claim)
        else:
            claim = Claim(await self._select(limit, skipping, postgres=False))
            yield claim
            async with transaction(self.engine):
                await self._record(claim)

    async def backlog(self) -> Backlog:
        """The unpublished count and the oldest unpublished event's creation time."""
        rows = await fetch(
            self.engine,
            "SELECT COUNT(*) AS unpublished, MIN(created_at) AS oldest "
            "FROM order_outbox WHERE published_at IS NULL",
        )
        row = rows[0]
        oldest = row["oldest"]
        return Backlog(
            unpublished=int(row["unpublished"]),
            oldest_created_at=as_datetime(oldest) if oldest is not None else None,
        )

    async def prune(self, *, published_before: datetime) -> int:
        """Delete rows published before the cutoff; returns how many."""
        deleted = await fetch(
            self.engine,
            "DELETE FROM order_outbox WHERE published_at IS NOT NULL AND published_at < {} "
            "RETURNING id",
            published_before,
        )
        return len(deleted)

    async def _select(
        self, limit: int, skipping: Sequence[str], *, postgres: bool
    ) -> list[OutboxMessage]:
        """The heads of orders, oldest first; on PostgreSQL locked for this claim."""
        skipped: list[Any]
        if not skipping:
            condition, skipped = "", []
        elif postgres:  # one array, so one statement text whatever is skipped
            condition, skipped = "\n  AND o.event_type <> ALL({}::text[])", [list(skipping)]
        else:
            marks = ", ".join("{}" for _ in skipping)
            condition, skipped = f"\n  AND o.event_type NOT IN ({marks})", list(skipping)
        sql = _HEADS_OF_ORDERS.format(skipping=condition) + (_LOCK if postgres else "")
        rows = await fetch(self.engine, sql, self.clock(), *skipped, limit)
        return [
            OutboxMessage(
                id=int(r["id"]),
                event_id=r["event_id"],
                event_type=r["event_type"],
                order_id=int(r["order_id"]),
                payload=r["payload"],
                attempts=int(r["attempts"]),
                created_at=as_datetime(r["created_at"]),
                trace_context=r["trace_context"],
            )
            for r in rows
        ]

    async def _record(self, claim: Claim) -> None:
        now = self.clock()
        if is_postgres(self.engine):
            await self._record_in_one_statement(claim, now)
            return
        # SQLite (one relay, no arrays): one statement for the published, one per failure.
        # Sequential on purpose: queries inside one Piccolo transaction must not overlap.
        if claim.published:
            condition, args = ids_in(self.engine, "id", claim.published)
            await fetch(
                self.engine,
                "UPDATE order_outbox SET published_at = {}, attempts = attempts + 1, "  # noqa: S608 - placeholders only
                f"last_error = NULL WHERE {condition}",
                now,
                *args,
            )
        attempts = {m.id: m.attempts + 1 for m in claim.messages}
        for row_id, error in claim.failed.items():
            await fetch(
                self.engine,
                "UPDATE order_outbox SET attempts = {}, next_attempt_at = {}, last_error = {} "
                "WHERE id = {}",
                attempts[row_id],
                now + self.retry.delay(attempts[row_id]),
                error,
                row_id,
            )

    async def _record_in_one_statement(self, claim: Claim, now: datetime) -> None:
        if not claim.published and not claim.failed:
            return
        attempts = {m.id: m.attempts + 1 for m in claim.messages}
        ids = [*claim.published, *claim.failed]
        failed = [False] * len(claim.published) + [True] * len(claim.failed)
        next_at: list[datetime | None] = [None] * len(claim.published)
        next_at += [now + self.retry.delay(attempts[i]) for i in claim.failed]
        errors: list[str | None] = [None] * len(claim.published)
        errors += list(claim.failed.values())
        await fetch(self.engine, _MARK, now, ids, failed, next_at, errors)

"""Storing a changed order: its row (if its version is still the one read), its new history
entries and its events, all or nothing.

On PostgreSQL this is one statement, in one implicit transaction, sent in one round trip;
with the read before it, an update is two round trips. It used to be six (BEGIN, SELECT,
UPDATE, INSERT history, INSERT outbox, COMMIT; five when only the quantity changes, with no
history entry). The order is read without a lock and outside any transaction, and the domain
decides on what was read; the UPDATE's `version = ` condition is the optimistic check. When
it matches no row (the order changed, or was deleted, since it was read) the two INSERTs,
which select from the UPDATE's result, insert nothing either, and the caller reads again and
decides again.

The outbox rows' `created_at` is `clock_timestamp()`, right before the statement commits, as
the unit of work writes its rows: the relay's lag (`published_at - created_at`) is commit ->
broker ack, not counting the wait for a pooled connection.

History entries and events travel as arrays, so the statement text is the same whatever their
number and asyncpg prepares it once.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

from subgraph.domain.order import Order
from subgraph.persistence.outbox import payload_json
from subgraph.persistence.sql import fetch
from subgraph.telemetry import tracing

CHANGE_IN_ONE_STATEMENT = """
WITH changed AS (
    UPDATE orders SET quantity = {}, status = {}, updated_at = {}, version = {}
    WHERE id = {} AND version = {}
    RETURNING id
), history AS (
    INSERT INTO order_status_changes (order_id, status, at, reason)
    SELECT changed.id, h.status, h.at, h.reason
    FROM changed, unnest({}::text[], {}::timestamptz[], {}::text[])
         WITH ORDINALITY AS h(status, at, reason, n)
    ORDER BY h.n
), outbox AS (
    INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at,
                              trace_context, attempts)
    SELECT e.event_id, e.event_type, changed.id, e.payload, clock_timestamp(), {}, 0
    FROM changed, unnest({}::text[], {}::text[], {}::text[])
         WITH ORDINALITY AS e(event_id, event_type, payload, n)
    ORDER BY e.n
)
SELECT id FROM changed
"""


async def change_in_one_statement(engine: Engine[Any], order: Order) -> bool:
    """Store `order` as changed since it was read at `order.version`; False (nothing written)
    when the stored order is no longer at that version, or gone."""
    assert order.id is not None
    history, events = order.new_history, order.events
    rows = await fetch(
        engine,
        CHANGE_IN_ONE_STATEMENT,
        order.quantity,
        order.status.value,
        order.updated_at,
        order.version + 1,
        order.id,
        order.version,
        [c.status.value for c in history],
        [c.at for c in history],
        [c.reason for c in history],
        # Observability: the request's trace context, so the relay's publish joins its trace.
        tracing.current_context() if tracing.ACTIVE else None,
        [e.event_id for e in events],
        [e.event_type for e in events],
        [payload_json(e.as_payload()) for e in events],
    )
    return bool(rows)

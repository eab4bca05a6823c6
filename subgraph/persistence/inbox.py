"""Ids of consumed messages, stored in the consumer's transaction: redeliveries change nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.engine.base import Engine

from subgraph.persistence.sql import fetch


class ProcessedMessages:
    """The de-duplication record of consumed events. Writes run inside the unit of work."""

    def __init__(self, engine: Engine[Any]) -> None:
        self.engine = engine

    async def record(self, event_id: str, *, now: datetime) -> bool:
        """Remember `event_id`; False when it was already processed (a redelivery).

        The unique index decides races: a second consumer of the same message waits for the
        first one's transaction and then inserts nothing.
        """
        inserted = await fetch(
            self.engine,
            "INSERT INTO processed_messages (event_id, processed_at) VALUES ({}, {}) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING id",
            event_id,
            now,
        )
        return bool(inserted)

    async def prune(self, *, processed_before: datetime) -> int:
        """Forget ids older than the cutoff; a redelivery that late is not expected."""
        deleted = await fetch(
            self.engine,
            "DELETE FROM processed_messages WHERE processed_at < {} RETURNING id",
            processed_before,
        )
        return len(deleted)

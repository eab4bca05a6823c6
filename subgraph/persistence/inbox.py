"""Ids of consumed messages, stored in the consumer's transaction: redeliveries change nothing."""

from __future__ import annotations

from datetime import datetime

from subgraph.persistence.tables import ProcessedMessageRow


class ProcessedMessages:
    """The de-duplication record of consumed events. Writes run inside the unit of work."""

    async def record(self, event_id: str, *, now: datetime) -> bool:
        """Remember `event_id`; False when it was already processed (a redelivery).

        The unique index decides races: a second consumer of the same message waits for the
        first one's transaction and then inserts nothing.
        """
        inserted = (
            await ProcessedMessageRow.insert(
                ProcessedMessageRow(event_id=event_id, processed_at=now)
            )
            .on_conflict(target=ProcessedMessageRow.event_id, action="DO NOTHING")
            .returning(ProcessedMessageRow.id)
        )
        return bool(inserted)

    async def prune(self, *, processed_before: datetime) -> int:
        """Forget ids older than the cutoff; a redelivery that late is not expected."""
        deleted = (
            await ProcessedMessageRow.delete()
            .where(ProcessedMessageRow.processed_at < processed_before)
            .returning(ProcessedMessageRow.id)
        )
        return len(deleted)

"""The outbox trigger stays silent for connections that send their own, coalesced NOTIFY.

One NOTIFY per committed placeOrder cost more than the placement itself: PostgreSQL queues
notifications under a database-wide lock taken at commit, then signals every LISTENing backend
(the relay and each worker's live feed), which each read the queue and forward the message.
The HTTP workers' connections now start with `orders.outbox_notify = 'off'` and send one
NOTIFY per burst of their own commits instead (`persistence/outbox_notices.py`). Every other
writer (a relay's consumer, an older build during a rolling upgrade, a manual insert) leaves
the setting unset and notifies per statement, as before.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox NOTIFY trigger: silent where orders.outbox_notify = 'off'"

SILENT_WHEN_ASKED = """
CREATE OR REPLACE FUNCTION order_outbox_notify() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('orders.outbox_notify', true), '') <> 'off' THEN
        PERFORM pg_notify('order_outbox', '');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

ALWAYS = """
CREATE OR REPLACE FUNCTION order_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('order_outbox', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def _on_postgres(statement: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        assert engine is not None, "piccolo_conf defines DB"
        if engine.engine_type == "postgres":
            await engine.run_ddl(statement)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)
    manager.add_raw(_on_postgres(SILENT_WHEN_ASKED))
    manager.add_raw_backwards(_on_postgres(ALWAYS))
    return manager

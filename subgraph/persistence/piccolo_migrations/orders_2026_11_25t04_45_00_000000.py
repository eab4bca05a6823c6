"""Outbox wake-ups and the per-order claim index, which auto-migrations cannot express."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T04:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "outbox NOTIFY trigger (PostgreSQL) and per-order pending index"

# The relay claims the oldest unpublished row of each order; this index answers "is there an
# earlier unpublished row for this order?" without scanning published history.
PORTABLE: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS order_outbox_pending_by_order "
    "ON order_outbox (order_id, id) WHERE published_at IS NULL",
    "CREATE INDEX IF NOT EXISTS order_outbox_published_at "
    "ON order_outbox (published_at) WHERE published_at IS NOT NULL",
)

# A NOTIFY sent inside a transaction is delivered at commit, so a relay LISTENing on
# `order_outbox` wakes exactly when new rows become visible; one per statement is enough.
POSTGRES_ONLY: tuple[str, ...] = (
    """
    CREATE OR REPLACE FUNCTION order_outbox_notify() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('order_outbox', '');
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS order_outbox_inserted ON order_outbox",
    """
    CREATE TRIGGER order_outbox_inserted AFTER INSERT ON order_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION order_outbox_notify()
    """,
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        assert engine is not None, "piccolo_conf defines DB"
        statements = PORTABLE + (POSTGRES_ONLY if engine.engine_type == "postgres" else ())
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(create)
    return manager

"""Composite, unique and partial indexes, which Piccolo's auto-migrations cannot express."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes for list filters, idempotency keys and the outbox"

# Plain SQL that PostgreSQL and SQLite both accept. Lists are newest first (id DESC), so every
# filter index ends in id; NULL keys never conflict, so orders without a key are unconstrained.
STATEMENTS = (
    "CREATE UNIQUE INDEX IF NOT EXISTS orders_placed_by_idempotency_key "
    "ON orders (placed_by, idempotency_key)",
    "CREATE INDEX IF NOT EXISTS orders_user_id_id ON orders (user_id, id DESC)",
    "CREATE INDEX IF NOT EXISTS orders_product_id_id ON orders (product_id, id DESC)",
    "CREATE INDEX IF NOT EXISTS orders_status_id ON orders (status, id DESC)",
    "CREATE INDEX IF NOT EXISTS order_status_changes_order_id_id "
    "ON order_status_changes (order_id, id)",
    "CREATE INDEX IF NOT EXISTS order_outbox_unpublished "
    "ON order_outbox (id) WHERE published_at IS NULL",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        assert engine is not None, "piccolo_conf defines DB"
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager

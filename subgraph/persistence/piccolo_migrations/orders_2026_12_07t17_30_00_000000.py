"""What each keyed placement asked for, so a key reused for another order is refused."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-12-07T17:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "orders.idempotency_request: the request a keyed placement answered"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)
    # Nullable: orders keyed before this migration answer any retry with their key, as before.
    manager.add_column(
        table_class_name="OrderRow",
        tablename="orders",
        column_name="idempotency_request",
        db_column_name="idempotency_request",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    async def index_keyed_orders() -> None:
        # The relay forgets old keys now and then: find them without scanning every order.
        engine = engine_finder()
        assert engine is not None, "piccolo_conf defines DB"
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS orders_keyed_created_at "
            "ON orders (created_at) WHERE idempotency_key IS NOT NULL"
        )

    manager.add_raw(index_keyed_orders)
    return manager

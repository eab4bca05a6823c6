"""Each outbox row keeps the trace context of the transaction that wrote it."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T18:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order_outbox.trace_context: W3C trace context (JSON) of the writing transaction"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="orders", description=DESCRIPTION)
    # Nullable: rows written before, or with tracing off, have none.
    manager.add_column(
        table_class_name="OutboxRow",
        tablename="order_outbox",
        column_name="trace_context",
        db_column_name="trace_context",
        column_class_name="Text",
        column_class=Text,
        params={
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
    return manager

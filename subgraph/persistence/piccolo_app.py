"""The Piccolo app that owns the orders tables and their migrations."""

import os

from piccolo.conf.apps import AppConfig

from subgraph.persistence.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="orders",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)

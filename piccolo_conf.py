"""Piccolo's entry point for its own CLI (`piccolo migrations ...`) run from the repo root.

The engine comes from DATABASE_URL (PostgreSQL over asyncpg) or, when unset, the embedded
SQLite file `orders.sqlite3`; see `subgraph/persistence/engine.py`.
"""

from subgraph.persistence.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]

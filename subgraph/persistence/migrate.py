"""Bring the configured database to the latest schema with Piccolo's migration runner."""

from __future__ import annotations

import contextlib
import io
import logging
import os

from piccolo.apps.migrations.commands.forwards import run_forwards

logger = logging.getLogger("subgraph.migrate")

PICCOLO_CONF = "subgraph.persistence.piccolo_conf"


def use_package_conf() -> None:
    """Point Piccolo at the package's conf, wherever the process was started from."""
    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF)


async def migrate() -> None:
    """Apply every pending migration; raise if one fails."""
    use_package_conf()
    printed = io.StringIO()
    # Piccolo reports progress with print(); keep stdout clean (the CLI's `schema` prints SDL).
    with contextlib.redirect_stdout(printed):
        result = await run_forwards(app_name="orders")
    for line in printed.getvalue().splitlines():
        if line.strip():
            logger.info("migrations: %s", line.strip())
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")

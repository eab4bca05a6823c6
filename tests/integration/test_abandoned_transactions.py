"""A transaction whose COMMIT or ROLLBACK failed is abandoned without leaving anything behind.

On SQLite the thing left behind was the connection: aiosqlite runs each one on a worker thread
that is not a daemon, and an unclosed one kept the relay process from exiting after its work
was done (orphaned `relay` processes after test runs). The PostgreSQL side, a dead connection
kept as the task's current transaction, is tested on the relay's claim (tests/messaging).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from piccolo.engine.sqlite import SQLiteEngine

from subgraph.persistence.transactions import abandon


def _connection_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


async def test_an_abandoned_sqlite_transaction_closes_its_connection_and_is_forgotten(
    tmp_path: Path,
) -> None:
    engine = SQLiteEngine(path=str(tmp_path / "orders.sqlite3"))
    before = set(_connection_threads())
    transaction = engine.transaction()
    await transaction.__aenter__()  # BEGIN done: the connection's thread runs
    assert engine.transaction_exists()
    opened = [t for t in _connection_threads() if t not in before]
    assert len(opened) == 1

    try:
        await abandon(engine, transaction)  # as after a COMMIT or ROLLBACK that raised

        assert not engine.transaction_exists()
        await asyncio.to_thread(opened[0].join, 5)
        assert not opened[0].is_alive()
    finally:
        if opened[0].is_alive():  # failed: end the thread, or this run could never exit
            transaction.connection.stop()

"""Piccolo transactions that clean up after themselves when BEGIN, COMMIT or ROLLBACK fails.

Piccolo's transaction (1.x) does its bookkeeping only on the happy path. When the database goes
away under it (a restart, a lost connection) or its task is cancelled, `__aexit__` raises from
ROLLBACK or COMMIT and skips the rest:

- it stays the task's current transaction (a ContextVar), so every later `engine.transaction()`
  in that task nests into it and runs on its dead connection. A long-lived task, such as the
  relay's, then failed every round with InterfaceError until the process was restarted (the
  soak, bench/soak.py, found it: 642 events left unpublished after one database restart);
- its connection is never given back: on PostgreSQL the pool loses it, and closing the pool
  waits for it forever (the relay then outlived SIGTERM until its supervisor killed it); on
  SQLite the connection stays open, and aiosqlite's worker thread, which is not a daemon, keeps
  the process from exiting after its work is done (orphaned `relay` processes after the tests).

`abandon` finishes that bookkeeping; `transaction` is `engine.transaction()` with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine


@asynccontextmanager
async def transaction(engine: Engine[Any]) -> AsyncIterator[None]:
    """`async with engine.transaction():` that leaves nothing behind when it fails."""
    piccolo = engine.transaction()
    try:
        await piccolo.__aenter__()
    except BaseException:
        await abandon(engine, piccolo)
        raise
    try:
        yield
    except BaseException as error:
        try:
            await piccolo.__aexit__(type(error), error, error.__traceback__)
        except BaseException as failed:
            await abandon(engine, piccolo)
            if not isinstance(failed, Exception):
                raise  # a cancellation during ROLLBACK is not swallowed
        raise  # the body's error, not the failed ROLLBACK's
    try:
        await piccolo.__aexit__(None, None, None)
    except BaseException:
        await abandon(engine, piccolo)
        raise


async def abandon(engine: Engine[Any], transaction: Any) -> None:
    """What a Piccolo transaction leaves undone when BEGIN, COMMIT or ROLLBACK fails: forget it
    as the current one, close its connection (PostgreSQL: and give it back to the pool)."""
    context = getattr(transaction, "context", None)  # set once BEGIN succeeded
    if context is not None:
        with contextlib.suppress(ValueError, RuntimeError):  # already reset, or another task's
            engine.current_transaction.reset(context)
    connection = getattr(transaction, "connection", None)
    if connection is None:
        return
    if isinstance(engine, SQLiteEngine):
        # aiosqlite's `stop` queues the close and the end of its worker thread without waiting,
        # so it also works from a cancelled task and after the event loop has gone.
        with contextlib.suppress(Exception):
            connection.stop()
        return
    if isinstance(engine, PostgresEngine):
        # Either may find the connection already given back (asyncpg does so when it fails
        # while being set up): then there is nothing left to do.
        with contextlib.suppress(Exception):
            connection.terminate()
        if engine.pool is not None:
            with contextlib.suppress(Exception):
                await engine.pool.release(connection, timeout=1.0)

"""A served process sets the objects of its start-up aside from the cyclic garbage collector.

A process builds ~110,000 long-lived objects while it starts (modules, the schema, the pool,
the broker's channels). CPython's full (generation 2) collection walks every tracked object,
and a busy process runs one every second or two: under placeOrder the messaging process
paused 35-80 ms each time (timed with `gc.callbacks`, 2026-12-08), and the relay's round in
progress waited with it. `gc.freeze()` (the standard library's documented call for this)
moves the objects that exist to a permanent generation that collections skip; objects made
later are collected as before. Start-up's garbage is collected first, so none is kept.

Called once a process is ready to serve: by each `serve` worker after its lifespan started
(server/shutdown.py) and by the messaging process once its pool is open
(messaging/runtime.py); never in a process that builds apps over and over (the tests).
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect start-up's garbage, then keep what is left out of later collections; returns
    how many objects are set aside."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

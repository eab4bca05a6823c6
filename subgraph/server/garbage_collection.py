"""The garbage collector's tuning, which a serving worker applies once when its app is built."""

from __future__ import annotations

import gc
from functools import cache

# Container allocations between young-generation collections (CPython's default is 700).
# One `_entities` answer of 1000 users builds ~50,000 short-lived objects: with the default
# the collector ran dozens of times per request, each pass also walking everything alive.
GC_YOUNG_THRESHOLD = 10_000


@cache
def tune_garbage_collection() -> None:
    """Collect less often, and never again walk what start-up built (schema, modules).

    Runs once per process (each server worker builds its app once; tests build many).

    Garbage is still collected, only in larger steps; memory stays bounded (the bench checks
    worker RSS over two runs of 100k requests).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)

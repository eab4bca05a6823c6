"""GraphQL request metrics counted in the process, written to Prometheus in batches.

With `serve`, prometheus-client runs in multiprocess mode: every `inc` takes its lock, checks
the pid and writes the new value into the process's mmapped file. A request's counter and
histogram are three such writes (count, the histogram's sum, one bucket): 6.5 us of CPU per
operation in-process, more than everything else the metrics do per request (2.3 us).

Here a finished operation is added to plain numbers in this process (one dict lookup, three
additions: 0.8 us) and those are written out, one `inc` per value that changed, when:

- no other operation is in flight in this process: IDLE_FLUSH_SECONDS later, from the event
  loop (so a scrape shortly after a request, by any worker, counts it). Not at once: a read
  that never waits on the database (getOrder from the cache) leaves nothing in flight after
  every request, and writing then cost 5.3 us a request against 0.8 us;
- otherwise at least every FLUSH_SECONDS, by the next operation to finish;
- before this process renders a scrape, every POOL_SAMPLE_SECONDS from the pool-sampling
  task, and when the process stops (telemetry/metrics.py's flush hooks).

So a busy worker's counts reach another worker's scrape at most about a second late, and an
idle one's within IDLE_FLUSH_SECONDS. Outside an event loop (a thread of its own) an idle
process writes at once. Library internals used: a prometheus-client histogram child's `_sum`
and `_buckets` (each a value with `inc`), the only way to add n observations at once. Switch:
LIBRARY_OVERRIDES name `metrics_batches`; off, every operation writes its counter and
histogram itself (`metrics.observe_request`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from subgraph.telemetry import metrics

FLUSH_SECONDS = 1.0
IDLE_FLUSH_SECONDS = 0.05
# The histogram's bucket bounds as prometheus-client keeps them (the last one +Inf): an
# observation goes in the first bucket whose bound is >= it, as `Histogram.observe` does.
_BOUNDS = (*metrics.LATENCY_BUCKETS, float("inf"))


class _Pending:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(_BOUNDS)


class Batches:
    """This process's unwritten request metrics (one per process: see BATCHES)."""

    def __init__(
        self,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
        idle_flush_seconds: float = IDLE_FLUSH_SECONDS,
    ) -> None:
        self.flush_seconds = flush_seconds
        self.idle_flush_seconds = idle_flush_seconds
        # The flush an idle moment asked for, and the loop that will run it.
        self._idle_flush: asyncio.TimerHandle | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        # One event loop per served process; the lock is for apps run in threads (tests).
        self._lock = threading.Lock()
        self.in_flight = 0
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._flushed_at = clock()

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def record(self, operation: str, kind: str, outcome: str, seconds: float) -> None:
        """One operation finished (labels already bounded)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a thread without an event loop: nothing would run a timer
            loop = None
        with self._lock:
            self.in_flight -= 1
            key = (operation, kind, outcome)
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending()
            pending.count += 1
            pending.total += seconds
            pending.buckets[bisect_left(_BOUNDS, seconds)] += 1
            due = self._clock() - self._flushed_at >= self.flush_seconds
            if not due and self.in_flight <= 0:
                if loop is None:
                    due = True
                elif self._idle_loop is not loop:  # no flush waiting in this loop yet
                    self._idle_loop = loop
                    self._idle_flush = loop.call_later(self.idle_flush_seconds, self.flush)
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending into the metrics (the multiprocess files)."""
        with self._lock:
            self._flushed_at = self._clock()
            if self._idle_flush is not None:
                self._idle_flush.cancel()  # this flush writes what it would have
                self._idle_flush = self._idle_loop = None
            if not self._pending:
                return
            pending, self._pending = self._pending, {}
        for (operation, kind, outcome), counts in pending.items():
            counter, histogram = metrics.children(operation, kind, outcome)
            counter.inc(counts.count)
            _add(histogram, counts)


def _add(histogram: Any, counts: _Pending) -> None:
    """`counts.count` observations at once: what as many `observe` calls would write."""
    histogram._sum.inc(counts.total)  # see the module docstring
    buckets = histogram._buckets
    for index, count in enumerate(counts.buckets):
        if count:
            buckets[index].inc(count)


BATCHES = Batches()
metrics.flush_hooks.append(BATCHES.flush)

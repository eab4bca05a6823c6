"""A small load generator for fault tests: keep-alive clients POSTing one GraphQL operation.

``LoadGenerator`` runs ``concurrency`` clients, each sending the operation again as soon as
the previous answer (or failure) is in, over an ``httpx.AsyncClient`` that keeps one
connection per client alive. It stops by itself after ``requests`` requests, after
``duration`` seconds, or at the latest after ``max_duration`` seconds; each request is bounded
by ``request_timeout`` seconds in total. Every request's outcome is kept, so a test can count
them whole or inside a time window (the database was down from t0 to t1):

- ``ok``: HTTP 200 and a GraphQL body without errors;
- ``graphql:<CODE>``: HTTP 200 with errors (the first error's ``extensions.code``, or
  ``NO_CODE``);
- ``http:<status>``: any other status (its GraphQL codes, if any, are still counted);
- ``invalid_body``: HTTP 200 whose body is not a GraphQL response;
- ``transport:<kind>``: no HTTP answer; kind is ``connect`` (refused, unreachable),
  ``timeout``, ``reset`` (read/write error: reset, broken pipe), ``closed`` (the server hung
  up without answering) or ``other``.

Use ``await run_load(...)`` for a measurement with a fixed end, or
``async with LoadGenerator(...) as load:`` to break things while it runs, then
``report = await load.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

DEFAULT_TIMEOUT = 5.0  # seconds per request, in total
MAX_DURATION = 60.0  # no load runs longer than this, whatever it was asked
NO_CODE = "NO_CODE"


@dataclass(frozen=True)
class RequestResult:
    """One request: when it started (``time.monotonic()``), how long it took, what came back."""

    started: float
    elapsed: float
    status: int | None = None
    codes: tuple[str, ...] = ()
    transport: str | None = None
    valid_body: bool = True
    detail: str = ""

    @property
    def outcome(self) -> str:
        if self.transport is not None:
            return f"transport:{self.transport}"
        if self.status != 200:
            return f"http:{self.status}"
        if not self.valid_body:
            return "invalid_body"
        if self.codes:
            return f"graphql:{self.codes[0]}"
        return "ok"


@dataclass
class LoadReport:
    """The outcomes of a load run (or a time window of one)."""

    results: list[RequestResult] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() when the load began
    duration: float = 0.0  # seconds from its start to its last answer

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(result.outcome for result in self.results)

    @property
    def ok(self) -> int:
        return sum(result.outcome == "ok" for result in self.results)

    @property
    def failed(self) -> int:
        return self.total - self.ok

    @property
    def statuses(self) -> Counter[int]:
        """HTTP statuses of the requests that got an HTTP answer."""
        return Counter(r.status for r in self.results if r.status is not None)

    @property
    def error_codes(self) -> Counter[str]:
        """GraphQL error codes: each distinct code once per request that carried it."""
        return Counter(code for r in self.results for code in sorted(set(r.codes)))

    @property
    def transport_errors(self) -> Counter[str]:
        return Counter(r.transport for r in self.results if r.transport is not None)

    def count(self, outcome: str) -> int:
        """Requests with this outcome; a prefix ending in ':' counts a family ("transport:")."""
        if outcome.endswith(":"):
            return sum(r.outcome.startswith(outcome) for r in self.results)
        return sum(r.outcome == outcome for r in self.results)

    def between(self, start: float, end: float) -> LoadReport:
        """The requests that started in [start, end) (``time.monotonic()`` values)."""
        return LoadReport(
            [r for r in self.results if start <= r.started < end], start, max(0.0, end - start)
        )

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return self.total / self.duration if self.duration > 0 else 0.0

    def latency(self, quantile: float, outcome: str = "ok") -> float:
        """The ``quantile`` (0..1) of elapsed seconds over requests with ``outcome``."""
        times = sorted(r.elapsed for r in self.results if r.outcome == outcome)
        if not times:
            return float("nan")
        return times[min(len(times) - 1, int(quantile * len(times)))]

    def summary(self, examples: int = 5) -> str:
        """One paragraph for an assertion message: counts, rate, first failures."""
        lines = [
            f"{self.total} requests in {self.duration:.2f} s ({self.rate:.0f}/s): "
            + ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        ]
        failures = [r for r in self.results if r.outcome != "ok"][:examples]
        for r in failures:
            at = r.started - self.started
            lines.append(f"  at +{at:.3f} s ({r.elapsed:.3f} s): {r.outcome} {r.detail[:200]}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _classify(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect"
    if isinstance(error, httpx.RemoteProtocolError):
        return "closed"
    if isinstance(error, httpx.ReadError | httpx.WriteError | ConnectionError):
        return "reset"
    return "other"


def _codes(body: Any) -> tuple[tuple[str, ...], bool]:
    """The error codes of a GraphQL response body, and whether it is one at all."""
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return (), False
    errors = body.get("errors") or []
    if not isinstance(errors, list):
        return (), False
    codes = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        codes.append(str(code) if code is not None else NO_CODE)
    return tuple(codes), True


class LoadGenerator:
    """Keep-alive clients POSTing ``{"query", "variables", "operationName"}`` to ``url``."""

    def __init__(
        self,
        url: str,
        query: str,
        *,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        concurrency: int = 4,
        requests: int | None = None,
        duration: float | None = None,
        request_timeout: float = DEFAULT_TIMEOUT,
        max_duration: float = MAX_DURATION,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = url
        payload: dict[str, Any] = {"query": query, "variables": dict(variables or {})}
        if operation_name is not None:
            payload["operationName"] = operation_name
        self._body = json.dumps(payload).encode()
        self._headers = {"content-type": "application/json", **(headers or {})}
        self.concurrency = concurrency
        self.requests = requests
        self.duration = min(duration, max_duration) if duration is not None else max_duration
        self.request_timeout = request_timeout
        self._results: list[RequestResult] = []
        self._issued = 0
        self._started = 0.0
        self._ended: float | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not all(task.done() for task in self._tasks)

    def snapshot(self) -> LoadReport:
        """The requests answered so far."""
        end = self._ended if self._ended is not None else time.monotonic()
        return LoadReport(list(self._results), self._started, end - self._started)

    async def start(self) -> Self:
        if self._tasks:
            raise RuntimeError("this load has already been started")
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        self._client = httpx.AsyncClient(
            limits=limits, timeout=httpx.Timeout(self.request_timeout), headers=self._headers
        )
        self._started = time.monotonic()
        self._tasks = [asyncio.create_task(self._client_loop()) for _ in range(self.concurrency)]
        return self

    async def wait(self) -> LoadReport:
        """Until the load ends by itself (requests, duration or max_duration)."""
        return await self._finish()

    async def stop(self) -> LoadReport:
        """Let each client finish the request it is in (bounded by ``request_timeout``); report."""
        self._stopping.set()
        return await self._finish()

    async def wait_until(
        self, predicate: Callable[[LoadReport], bool], within: float = 10.0
    ) -> LoadReport:
        """Poll the report so far until ``predicate`` holds; raise TimeoutError with a summary
        if it does not within ``within`` seconds (or the load ended first)."""
        deadline = time.monotonic() + within
        while not predicate(report := self.snapshot()):
            if time.monotonic() > deadline or not self.running:
                raise TimeoutError(f"load condition not met within {within:.1f} s: {report}")
            await asyncio.sleep(0.01)
        return report

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _finish(self) -> LoadReport:
        if self._tasks:
            # Every client stops claiming requests at the deadline; its last one is bounded.
            left = max(0.0, self._started + self.duration - time.monotonic())
            limit = left + self.request_timeout + 5
            _, pending = await asyncio.wait(self._tasks, timeout=limit)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
        if self._ended is None:
            self._ended = time.monotonic()
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"a load client failed: {self.snapshot()}") from task.exception()
        return self.snapshot()

    def _claim(self) -> bool:
        if self._stopping.is_set() or time.monotonic() >= self._started + self.duration:
            return False
        if self.requests is not None:
            if self._issued >= self.requests:
                return False
            self._issued += 1
        return True

    async def _client_loop(self) -> None:
        assert self._client is not None
        while self._claim():
            self._results.append(await self._one(self._client))

    async def _one(self, client: httpx.AsyncClient) -> RequestResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await client.post(self.url, content=self._body)
        except Exception as error:
            return RequestResult(
                started,
                time.monotonic() - started,
                transport=_classify(error),
                detail=f"{type(error).__name__}: {error}",
            )
        elapsed = time.monotonic() - started
        try:
            codes, valid = _codes(response.json())
        except ValueError:
            codes, valid = (), False
        detail = "" if response.status_code == 200 and valid and not codes else response.text
        return RequestResult(
            started, elapsed, response.status_code, codes, valid_body=valid, detail=detail
        )


async def run_load(
    url: str,
    query: str,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    headers: Mapping[str, str] | None = None,
    concurrency: int = 4,
    requests: int | None = None,
    duration: float | None = None,
    request_timeout: float = DEFAULT_TIMEOUT,
    max_duration: float = MAX_DURATION,
) -> LoadReport:
    """Run a load to its end (``requests`` sent, or ``duration`` over) and report."""
    if requests is None and duration is None:
        raise ValueError("give requests or duration (or use LoadGenerator and stop() it)")
    load = LoadGenerator(
        url,
        query,
        variables=variables,
        operation_name=operation_name,
        headers=headers,
        concurrency=concurrency,
        requests=requests,
        duration=duration,
        request_timeout=request_timeout,
        max_duration=max_duration,
    )
    await load.start()
    try:
        return await load.wait()
    finally:
        await load.stop()

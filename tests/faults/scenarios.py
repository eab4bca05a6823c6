"""What the outage tests share: a writer load with unique idempotency keys, counts in the
database, readiness polling and a record of each scenario's numbers.

The numbers of every scenario (requests sent, failed, by outcome) are appended as one JSON
line to ``$FAULT_RESULTS`` when it is set, so a run can report them (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.faults.load import LoadReport, RequestResult, _classify, _codes

PLACE = (
    "mutation Place($key: String!) { placeOrder(userId: 1, productId: 7, quantity: 1, "
    "idempotencyKey: $key) { success order { id } } }"
)
ORDERS = "query Orders { getOrders(limit: 20) { id status } }"


def record(scenario: str, **numbers: Any) -> None:
    """Append the scenario's numbers to $FAULT_RESULTS (one JSON object per line)."""
    path = os.environ.get("FAULT_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"scenario": scenario, **numbers}, sort_keys=True) + "\n")


def numbers(report: LoadReport) -> dict[str, Any]:
    return {"sent": report.total, "failed": report.failed, "outcomes": dict(report.outcomes)}


@dataclass
class Placement:
    key: str
    result: RequestResult
    order_id: str | None = None
    retryable: bool = False


@dataclass
class WriterLoad:
    """Clients placing orders, each with a fresh idempotency key, until stopped."""

    url: str
    headers: dict[str, str]
    concurrency: int = 4
    request_timeout: float = 15.0
    placements: list[Placement] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.request_timeout), headers=self.headers
        )

    async def start(self) -> WriterLoad:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        return self

    async def stop(self) -> list[Placement]:
        self._stop.set()
        await asyncio.wait(self._tasks, timeout=self.request_timeout + 5)
        await self._client.aclose()
        return self.placements

    def acknowledged(self) -> int:
        return sum(p.order_id is not None for p in self.placements)

    async def wait_for(self, acknowledged: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while self.acknowledged() < acknowledged:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.acknowledged()} orders acknowledged in {within} s")
            await asyncio.sleep(0.01)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            self.placements.append(
                await place(self._client, self.url, uuid.uuid4().hex, self.request_timeout)
            )

    def report(self) -> LoadReport:
        results = [p.result for p in self.placements]
        started = min((r.started for r in results), default=0.0)
        ended = max((r.started + r.elapsed for r in results), default=0.0)
        return LoadReport(results, started, ended - started)


async def place(client: httpx.AsyncClient, url: str, key: str, within: float) -> Placement:
    """One placeOrder with `key`: its outcome, the order id when it succeeded."""
    started = time.monotonic()
    body = {"query": PLACE, "variables": {"key": key}}
    try:
        async with asyncio.timeout(within):
            response = await client.post(url, json=body)
    except Exception as error:
        result = RequestResult(started, time.monotonic() - started, transport=_classify(error))
        return Placement(key, result)
    payload = response.json()
    codes, valid = _codes(payload)
    result = RequestResult(
        started,
        time.monotonic() - started,
        response.status_code,
        codes,
        valid_body=valid,
        detail="" if not codes else response.text,
    )
    placed = (payload.get("data") or {}).get("placeOrder") or {}
    order = placed.get("order") or {}
    errors = payload.get("errors") or []
    retryable = bool(errors) and all((e.get("extensions") or {}).get("retryable") for e in errors)
    return Placement(key, result, order.get("id"), retryable)


async def table_counts(dsn: str) -> Counter[str]:
    """Orders, their history rows and outbox events in the database, and keyed orders."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM orders) AS orders, "
            "(SELECT count(DISTINCT idempotency_key) FROM orders) AS keys, "
            "(SELECT count(*) FROM order_status_changes) AS history, "
            "(SELECT count(*) FROM order_outbox) AS events"
        )
    finally:
        await connection.close()
    assert row is not None
    return Counter(dict(row))


async def order_ids_by_key(dsn: str) -> dict[str, list[str]]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await connection.fetch("SELECT id, idempotency_key FROM orders ORDER BY id")
    finally:
        await connection.close()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["idempotency_key"], []).append(str(row["id"]))
    return found


async def wait_for_status(client: httpx.AsyncClient, url: str, status: int, within: float) -> float:
    """Poll `url` every 50 ms until it answers `status`; the seconds it took (TimeoutError)."""
    began = time.monotonic()
    seen: list[tuple[float, int | str]] = []
    while True:
        try:
            answered: int | str = (await client.get(url, timeout=2.5)).status_code
        except httpx.TransportError as error:
            answered = type(error).__name__
        seen.append((round(time.monotonic() - began, 2), answered))
        if answered == status:
            LAST_POLLS[:] = seen
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise TimeoutError(f"{url} did not answer {status} in {within} s: {seen}")
        await asyncio.sleep(0.05)


LAST_POLLS: list[tuple[float, int | str]] = []  # the last wait_for_status's answers


def health_url(graphql_url: str, which: str) -> str:
    return graphql_url.removesuffix("/graphql") + f"/health/{which}"

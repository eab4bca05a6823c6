"""A server killed while placing orders leaves no order without its history and its event."""

from __future__ import annotations

from typing import Any

from tests.faults.load import LoadGenerator
from tests.support import bearer, rows


async def test_a_server_killed_under_placement_load_leaves_every_order_with_its_event(
    served_app: Any, owned_database: str
) -> None:
    place = """mutation { placeOrder(userId: "7", productId: "1", quantity: 1) { success } }"""
    async with LoadGenerator(
        served_app.url, place, headers=bearer(7), concurrency=8, duration=30, request_timeout=5
    ) as load:
        await load.wait_until(lambda report: report.ok >= 50, within=30)
        served_app.process.kill()  # SIGKILL: statements in flight die with it
        await load.wait_until(lambda report: report.count("transport:") > 0, within=10)
    acknowledged = load.snapshot().ok

    orders = await rows(owned_database, "SELECT id FROM orders")
    events = await rows(owned_database, "SELECT order_id FROM order_outbox")
    history = await rows(owned_database, "SELECT order_id FROM order_status_changes")
    assert len(orders) >= acknowledged >= 50
    assert sorted(r["order_id"] for r in events) == sorted(r["id"] for r in orders)
    assert sorted(r["order_id"] for r in history) == sorted(r["id"] for r in orders)

"""Spans of one in-process request, read from the SDK's in-memory exporter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from subgraph.settings import Settings
from subgraph.telemetry import tracing
from tests.support import bearer, gql

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    # The SDK's spans with LIBRARY_OVERRIDES=none, the `light_spans` override's otherwise.
    provider = tracing.new_provider(light=Settings().override("light_spans"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider)
    try:
        yield exporter
    finally:
        tracing.deactivate()


async def test_a_request_continues_its_traceparent_through_the_operation_sql_and_outbox_row(
    spans: InMemorySpanExporter, app_with: Any, db: str
) -> None:
    async with app_with() as client:
        body = await gql(
            client,
            'mutation Place { placeOrder(userId: "5", productId: "secret-product", quantity: 2)'
            " { success } }",
            headers={**bearer("5"), "traceparent": TRACEPARENT},
        )
    assert body == {"data": {"placeOrder": {"success": True}}}
    finished = spans.get_finished_spans()
    traced = [s for s in finished if format(s.context.trace_id, "032x") == TRACE_ID]
    names = [s.name for s in traced]
    assert "POST /graphql" in names and "mutation Place" in names
    operation = next(s for s in traced if s.name == "mutation Place")
    assert operation.attributes["graphql.operation.type"] == "mutation"
    statements = [s for s in traced if s.attributes and "db.query.text" in s.attributes]
    assert any("INSERT INTO order_outbox" in s.attributes["db.query.text"] for s in statements)
    for span in traced:
        assert "secret-product" not in json.dumps(dict(span.attributes or {}), default=str)
    connection = await asyncpg.connect(db)
    try:
        stored = await connection.fetchval("SELECT trace_context FROM order_outbox")
    finally:
        await connection.close()
    assert TRACE_ID in json.loads(stored)["traceparent"]


async def test_without_tracing_an_outbox_row_has_no_trace_context(app_with: Any, db: str) -> None:
    async with app_with() as client:
        await gql(
            client,
            'mutation { placeOrder(userId: "5", productId: "p", quantity: 1) { success } }',
            headers={**bearer("5"), "traceparent": TRACEPARENT},
        )
    connection = await asyncpg.connect(db)
    try:
        assert await connection.fetchval("SELECT trace_context FROM order_outbox") is None
    finally:
        await connection.close()

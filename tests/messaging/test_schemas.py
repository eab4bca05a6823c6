"""The payload models against what the domain records and what the products service may send."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from subgraph.domain.order import Order, OrderStatus
from subgraph.messaging.schemas import (
    EVENT_MODELS,
    InventoryRejectedMessage,
    InventoryReservedMessage,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _events() -> list[dict[str, object]]:
    order = Order.place(user_id="u1", product_id="p1", quantity=2, now=NOW).stored(id=7)
    order.record_placed(event_id="00000000-0000-4000-8000-000000000001", now=NOW)
    order.update(
        event_id="00000000-0000-4000-8000-000000000002", now=NOW, status=OrderStatus.CANCELLED
    )
    order.record_deleted(event_id="00000000-0000-4000-8000-000000000003", now=NOW)
    return [event.as_payload() for event in order.events]


def test_every_event_the_domain_records_matches_its_published_schema() -> None:
    payloads = _events()
    assert [p["event_type"] for p in payloads] == ["order.placed", "order.updated", "order.deleted"]
    for payload in payloads:
        model = EVENT_MODELS[str(payload["event_type"])].model_validate(payload)
        assert model.model_dump(exclude_unset=True).keys() == payload.keys()


def test_an_event_with_a_missing_contract_field_does_not_match_its_schema() -> None:
    payload = _events()[1]
    del payload["previous_status"]
    with pytest.raises(ValidationError):
        EVENT_MODELS["order.updated"].model_validate(payload)


def test_inventory_results_accept_a_numeric_order_id_and_ignore_unknown_fields() -> None:
    result = InventoryReservedMessage.model_validate(
        {"event_id": "e1", "order_id": 12, "occurred_at": "2026-11-25T10:00:00Z", "sku": "x"}
    )
    assert result.order_id == "12"


@pytest.mark.parametrize(
    "body",
    [
        {"event_id": "e1", "order_id": "12", "occurred_at": "2026-11-25T10:00:00Z"},  # no reason
        {"event_id": "", "order_id": "12", "reason": "x", "occurred_at": "2026-11-25T10:00:00Z"},
        {"event_id": "e1", "order_id": "abc", "reason": "x", "occurred_at": "2026-11-25T10:00:00Z"},
        {"event_id": "e1", "order_id": "12", "reason": "x", "occurred_at": "yesterday"},
    ],
)
def test_an_incomplete_or_malformed_rejection_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InventoryRejectedMessage.model_validate(body)

"""The outbox's event JSON (orjson) reads back as the standard module's, and the placement's
request digest is computed only for a keyed placement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from subgraph import service
from subgraph.domain.access import Principal
from subgraph.domain.events import OrderPlaced, OrderSnapshot, OrderUpdated
from subgraph.domain.order import Order
from subgraph.persistence.outbox import payload_json
from subgraph.persistence.placement import _ID_MARK_IN_JSON, _payload_around_id
from tests.unit.fakes import FakeUnitOfWork, Storage

NOW = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _snapshot(product_id: str = "p1") -> OrderSnapshot:
    return OrderSnapshot(
        id=7,
        user_id="alice",
        product_id=product_id,
        quantity=2,
        status="PENDING",
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize("product_id", ["p1", "produit-é", "产品", "tab\there", 'quote"'])
def test_event_json_reads_back_as_the_standard_modules(product_id: str) -> None:
    for event in (
        OrderPlaced(event_id="e1", occurred_at=NOW, order=_snapshot(product_id)),
        OrderUpdated(
            event_id="e2",
            occurred_at=NOW,
            order=_snapshot(product_id),
            previous_status="PENDING",
            previous_quantity=1,
        ),
    ):
        payload = event.as_payload()
        text = payload_json(payload)
        assert json.loads(text) == json.loads(json.dumps(payload, separators=(",", ":")))
        assert " " not in text.replace("tab\\there", "")  # compact


def test_nul_is_escaped_as_the_placement_cuts_it() -> None:
    assert payload_json({"id": "\x00"}) == '{"id":"' + _ID_MARK_IN_JSON + '"}'


def test_text_orjson_refuses_goes_through_json() -> None:
    text = payload_json({"product_id": "\ud800"})
    assert text == '{"product_id":"\\ud800"}'


def test_the_placement_payload_joins_around_the_id() -> None:
    order = Order.place(user_id="alice", product_id="produit-é", quantity=3, now=NOW)
    before, after = _payload_around_id(order, event_id="e1", now=NOW)
    joined: dict[str, Any] = json.loads(before + "42" + after)
    assert joined["order"]["id"] == "42"
    assert joined["order"]["product_id"] == "produit-é"
    assert joined["occurred_at"] == "2026-05-01T12:00:00.123456Z"


async def test_a_placement_without_a_key_stores_no_request_digest() -> None:
    storage = Storage()
    seen: list[str | None] = []
    uow = FakeUnitOfWork(storage)
    place = uow.place

    async def recording(order: Order, **kwargs: Any) -> Any:
        seen.append(kwargs["request"])
        return await place(order, **kwargs)

    uow.place = recording  # type: ignore[method-assign]
    alice = Principal(user_id="alice")
    await service.place_order(uow=uow, principal=alice, user_id="alice", product_id="p", quantity=1)
    await service.place_order(
        uow=uow, principal=alice, user_id="alice", product_id="p", quantity=1, idempotency_key="k1"
    )
    assert seen[0] is None
    assert isinstance(seen[1], str) and len(seen[1]) == 32

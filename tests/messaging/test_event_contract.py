"""The AsyncAPI document keeps the event contract in `contract/events.md`: every routing key
and payload field its tables name, on the exchanges it names. The tables are read from the
file, so a change to the contract that the code does not follow fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "contract" / "events.md").read_text(encoding="utf-8")
DOCUMENT: dict[str, Any] = yaml.safe_load((ROOT / "asyncapi.yaml").read_text(encoding="utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]

ENVELOPE = ["event_id", "event_type", "occurred_at", "version"]
ORDER = ["id", "user_id", "product_id", "quantity", "status", "created_at", "updated_at"]


def table_under(heading: str) -> dict[str, list[str]]:
    """Routing key -> the backticked names of its payload cell, from the section's table."""
    section = CONTRACT.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        key = re.fullmatch(r"`([a-z]+\.[a-z]+)`", cells[0]) if len(cells) >= 3 else None
        if key:
            payload = cells[2] if heading.startswith("Published") else cells[1]
            rows[key.group(1)] = re.findall(r"`([a-z_]+)`", payload)
    return rows


def schema_named(ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = SCHEMAS[ref.rsplit("/", 1)[1]]
    return schema


def test_the_contract_tables_are_read() -> None:
    assert set(table_under("Published by the orders subgraph")) == {
        "order.placed",
        "order.updated",
        "order.deleted",
    }
    assert set(table_under("Consumed by the orders subgraph")) == {
        "inventory.reserved",
        "inventory.rejected",
    }


def test_every_published_event_of_the_contract_is_sent_with_its_payload() -> None:
    for key, fields in table_under("Published by the orders subgraph").items():
        assert DOCUMENT["operations"][key]["action"] == "send"
        exchange = DOCUMENT["channels"][key]["bindings"]["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (
            "orders",
            "topic",
            True,
        )
        message = DOCUMENT["components"]["messages"][f"{key}:Message"]
        schema = schema_named(message["payload"]["$ref"])
        required = set(schema["required"])
        assert {*ENVELOPE, "order", *fields} <= required, key
        order = schema_named(schema["properties"]["order"]["$ref"])
        assert set(ORDER) <= set(order["required"]), key


def test_every_consumed_result_of_the_contract_is_received_with_its_payload() -> None:
    operation = DOCUMENT["operations"]["orders.inventory-results"]
    assert operation["action"] == "receive"
    consumed = table_under("Consumed by the orders subgraph")
    assert operation["bindings"]["amqp"]["cc"] == list(consumed)
    message = DOCUMENT["components"]["messages"]["orders.inventory-results:SubscribeMessage"]
    schemas = [schema_named(option["$ref"]) for option in message["payload"]["oneOf"]]
    for (key, fields), schema in zip(consumed.items(), schemas, strict=True):
        assert set(schema["required"]) == set(fields), key

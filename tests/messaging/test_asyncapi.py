"""The AsyncAPI contract: committed, reproducible, valid for the official parser, served."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from subgraph.messaging.asyncapi import document_text
from subgraph.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "asyncapi.yaml"
VALIDATOR = Path(__file__).with_name("validate_asyncapi.mjs")
CLI = str(Path(sys.executable).parent / "orders-subgraph")


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMMITTED.read_text())
    return loaded


def test_the_committed_asyncapi_yaml_is_what_the_code_generates() -> None:
    generated = document_text(get_settings(), "yaml")
    assert COMMITTED.read_text() == generated, (
        "asyncapi.yaml is stale: run `orders-subgraph asyncapi > asyncapi.yaml`"
    )


def test_the_committed_document_is_valid_for_the_official_asyncapi_parser() -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("node and `npm ci` (@asyncapi/parser) are needed", pytrace=False)
    result = subprocess.run(
        [node, str(VALIDATOR), str(COMMITTED)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0, report["diagnostics"]
    assert report["version"] == "3.0.0"
    assert sorted(report["operations"]) == [
        "receive orders.inventory-results",
        "send order.deleted",
        "send order.placed",
        "send order.updated",
    ]


def test_every_channel_carries_its_payload_schema_and_its_binding() -> None:
    document = _document()
    schemas = document["components"]["schemas"]
    for key in ("order.placed", "order.updated", "order.deleted"):
        operation = document["operations"][key]
        assert operation["bindings"]["amqp"]["cc"] == [key]
        assert operation["bindings"]["amqp"]["deliveryMode"] == 2  # persistent
        assert operation["bindings"]["amqp"]["mandatory"] is True
        exchange = document["channels"][key]["bindings"]["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (
            "orders",
            "topic",
            True,
        )
        payload = document["components"]["messages"][f"{key}:Message"]["payload"]["$ref"]
        schema = schemas[payload.rsplit("/", 1)[1]]
        assert schema["properties"]["event_type"]["const"] == key
        assert {"event_id", "event_type", "occurred_at", "version", "order"} <= set(
            schema["required"]
        )
    assert {"previous_status", "previous_quantity"} <= set(schemas["OrderUpdated"]["required"])
    inventory = document["operations"]["orders.inventory-results"]["bindings"]["amqp"]
    assert inventory["cc"] == ["inventory.reserved", "inventory.rejected"]
    queue = document["channels"]["orders.inventory-results"]["bindings"]["amqp"]["queue"]
    assert (queue["name"], queue["durable"]) == ("orders.inventory-results", True)
    assert set(schemas["InventoryRejected"]["required"]) == {
        "event_id",
        "order_id",
        "reason",
        "occurred_at",
    }


def test_the_document_names_the_configured_public_server_and_never_the_connection_url() -> None:
    secret = "amqp://orders-user:s3cr3t-pass@rabbit.internal:5671/prod"
    settings = get_settings().model_copy(
        update={"rabbitmq_url": SecretStr(secret), "asyncapi_server_url": "amqp://mq.example:5672/"}
    )
    text = document_text(settings, "json")
    assert json.loads(text)["servers"]["development"]["host"] == "mq.example:5672"
    for leak in ("s3cr3t-pass", "orders-user", "rabbit.internal"):
        assert leak not in text
    titles = [m["title"] for m in json.loads(text)["components"]["messages"].values()]
    assert all("/" not in title for title in titles)


def test_the_asyncapi_command_prints_yaml_by_default_and_json_on_request() -> None:
    as_yaml = subprocess.run([CLI, "asyncapi"], capture_output=True, timeout=60, check=True)
    as_json = subprocess.run(
        [CLI, "asyncapi", "--format", "json"], capture_output=True, timeout=60, check=True
    )
    assert as_yaml.stdout.decode() == COMMITTED.read_text()
    assert json.loads(as_json.stdout) == _document()


@pytest.mark.postgres
async def test_the_app_serves_the_document_as_html_json_and_yaml_with_local_assets(
    client: Any,
) -> None:
    page = await client.get("/asyncapi")
    as_json = await client.get("/asyncapi.json")
    as_yaml = await client.get("/asyncapi.yaml")

    assert page.status_code == as_json.status_code == as_yaml.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert as_json.json() == _document()
    assert yaml.safe_load(as_yaml.text) == _document()
    # Everything the page loads comes from this server: it renders without internet access.
    assert "https://" not in page.text and "http://" not in page.text
    for asset in ("/asyncapi/assets/asyncapi-standalone.js", "/asyncapi/assets/asyncapi.css"):
        assert asset in page.text
        served = await client.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 10_000
    assert "AsyncApiStandalone.render" in page.text

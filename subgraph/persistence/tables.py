"""Piccolo tables: the rows we store. Domain objects are mapped to and from them in `repository`."""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    BigSerial,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class OrderRow(Table, tablename="orders"):
    """One order. `version` grows with every stored change (optimistic concurrency)."""

    id = BigSerial(primary_key=True)
    user_id = Varchar(length=64)
    product_id = Varchar(length=64)
    quantity = Integer()
    status = Varchar(length=16)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    version = Integer(default=1)
    # Who placed it and with which key: (placed_by, idempotency_key) is unique (see migrations).
    placed_by = Varchar(length=64, null=True, default=None)
    idempotency_key = Varchar(length=255, null=True, default=None)
    # What the keyed placement asked for (`placement_request`): a retry must ask the same.
    idempotency_request = Varchar(length=64, null=True, default=None)


class OrderStatusChangeRow(Table, tablename="order_status_changes"):
    """One entry of an order's history; deleted with its order."""

    id = BigSerial(primary_key=True)
    order_id = BigInt(index=True)
    status = Varchar(length=16)
    at = Timestamptz()
    reason = Text(null=True, default=None)


class OutboxRow(Table, tablename="order_outbox"):
    """An event to publish, written in the same transaction as the change it records."""

    id = BigSerial(primary_key=True)
    event_id = Varchar(length=36, unique=True)
    event_type = Varchar(length=32)
    order_id = BigInt(index=True)
    payload = Text()
    created_at = Timestamptz()
    published_at = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    # The W3C trace context of the writing transaction (JSON), when tracing is on.
    trace_context = Text(null=True, default=None)


class ProcessedMessageRow(Table, tablename="processed_messages"):
    """A consumed message's id, stored with the change it caused so a redelivery changes nothing."""

    id = BigSerial(primary_key=True)
    event_id = Varchar(length=100, unique=True)
    processed_at = Timestamptz()


TABLES: tuple[type[Table], ...] = (OrderRow, OrderStatusChangeRow, OutboxRow, ProcessedMessageRow)

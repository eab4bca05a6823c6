"""Rows to domain objects: statuses read by table lookup, and what no status is refused."""

from __future__ import annotations

import pytest

from subgraph.domain.order import OrderStatus
from subgraph.persistence.mapping import as_status


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_stored_status_reads_back_as_itself(status: OrderStatus) -> None:
    assert as_status(status.value) is status


@pytest.mark.parametrize("text", ["", "shipped", "LOST", "PENDING "])
def test_text_that_is_no_status_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a valid OrderStatus"):
        as_status(text)

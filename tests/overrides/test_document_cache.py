"""The `document_cache` override: each distinct document is parsed and validated once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from subgraph.overrides.document_cache import _cached_parse, _validation_errors
from tests.conftest import AppFactory
from tests.security.test_request_guards import nested
from tests.support import ADMIN, gql


@pytest.mark.parametrize("query", ["{ getOrders { id } }", nested(13)])
async def test_a_repeated_document_is_parsed_and_validated_once(
    app_with: AppFactory, query: str
) -> None:
    """The guards must not defeat the caches: one miss, then hits, for allowed and refused
    documents alike (a unique operation name makes the document new to this run)."""
    document = f"query Probe{uuid.uuid4().hex} {query}"
    async with app_with(library_overrides="document_cache") as client:
        before = (_validation_errors.cache_info(), _cached_parse.cache_info())
        bodies: list[Any] = [await gql(client, document, headers=ADMIN) for _ in range(3)]
        after = (_validation_errors.cache_info(), _cached_parse.cache_info())

    assert bodies[0] == bodies[1] == bodies[2]
    for old, new in zip(before, after, strict=True):
        assert (new.misses - old.misses, new.hits - old.hits) == (1, 2)

"""`_entities` hands each type's share of a batch to its `resolve_references` in one call.

Strawberry's federation resolver (`Schema.entities_resolver`, which `api/entities.py` extends
to check representations) calls `resolve_reference` once per representation: a coroutine per
Order, each completed by graphql-core on its own. A type with a `resolve_references(info,
keys)` classmethod gets its whole share of a batch in one call here, and the field returns one
awaitable, so graphql-core completes a list of plain objects instead of awaiting each item.
Representations of other types still go to Strawberry's resolver. A failed call fails its
places, as a failed `resolve_reference` fails its one.

Measured (docs/upgrading.md, `python -m bench.inprocess`, 7 paired rounds with an A/A
control): turned off, entities_order_1000 costs x2.35 the CPU per request (the run's spread
0.91-1.85). Kept. Switch: LIBRARY_OVERRIDES name `entity_batches`; off, Strawberry's resolver
resolves each representation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from inspect import isawaitable
from typing import Any, cast

import strawberry
from strawberry.federation.schema import FederationAny

from subgraph.api.entities import CheckedEntitiesSchema


class BatchedEntitiesSchema(CheckedEntitiesSchema):
    """Mixed in before the service's schema class when the override is on."""

    def resolve_entities(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        shapes = self.entity_shapes()
        checked = cast("list[dict[str, Any]]", representations)  # all objects, checked
        batches: dict[str, list[int]] = {}
        single: list[int] = []
        for index, key in enumerate(checked):
            name = key["__typename"]
            if shapes[name].batched:
                batches.setdefault(name, []).append(index)
            else:
                single.append(index)
        results: list[Any] = [None] * len(checked)
        if single:
            resolved = super().resolve_entities(info, [representations[i] for i in single])
            for index, result in zip(single, resolved, strict=True):
                results[index] = result
        waiting: list[tuple[Awaitable[list[Any]], list[int]]] = [
            (_as_list(results[i]), [i]) for i in single if isawaitable(results[i])
        ]
        for name, indexes in batches.items():
            keys = [_key(checked[i]) for i in indexes]
            waiting.append((shapes[name].origin.resolve_references(info, keys), indexes))
        if not waiting:
            return results
        return cast("list[FederationAny]", _settled(results, waiting))


def _key(representation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in representation.items() if k != "__typename"}


async def _as_list(awaitable: Awaitable[Any]) -> list[Any]:
    return [await awaitable]


async def _settled(
    results: list[Any], waiting: list[tuple[Awaitable[list[Any]], list[int]]]
) -> list[Any]:
    """`results` with every awaited entity in its place; a failed call fails its places."""
    outcomes = await asyncio.gather(*(w for w, _ in waiting), return_exceptions=True)
    for (_, indexes), outcome in zip(waiting, outcomes, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        resolved = [outcome] * len(indexes) if isinstance(outcome, Exception) else outcome
        for index, result in zip(indexes, resolved, strict=True):
            results[index] = result
    return results

"""`_entities` that tells the caller which representation is malformed.

Strawberry's resolver indexes representations blindly: a missing `__typename`, an unknown type
name or a missing key field raises KeyError/TypeError, which we would have to mask as an
internal error. A router never sends such input, but a hand-written call or a misconfigured
router does, and deserves a BAD_USER_INPUT error that names the representation instead.
"""

# No `from __future__ import annotations`: Strawberry reads this resolver's annotations to
# build the `_entities` field, and they must be real types.
from typing import Any

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.inspect import get_func_args

from subgraph.api.errors import BadUserInput


class EntityShape:
    """What one entity type accepts in a representation."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.required = {
            field
            for directive in definition.directives or ()
            if isinstance(directive, Key)
            for field in _top_level_fields(str(directive.fields))
        }
        resolve_reference = getattr(definition.origin, "resolve_reference", None)
        self.accepted: set[str] | None = (
            set(get_func_args(resolve_reference)) - {"info"} if resolve_reference else None
        )

    def problem(self, representation: dict[str, Any]) -> str | None:
        fields = set(representation) - {"__typename"}
        missing = sorted(f for f in self.required if representation.get(f) is None)
        if missing:
            return f"lacks its key field(s) {', '.join(missing)}"
        unexpected = sorted(fields - self.accepted) if self.accepted is not None else []
        if unexpected:
            return f"has field(s) this subgraph does not take: {', '.join(unexpected)}"
        return None


class CheckedEntitiesSchema(strawberry.federation.Schema):
    """A federation schema whose `_entities` rejects malformed representations up front."""

    _entity_shapes: dict[str, EntityShape] | None = None

    def entities_resolver(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        shapes = self._shapes()
        for index, representation in enumerate(representations):
            problem = _problem(representation, shapes)
            if problem is not None:
                raise BadUserInput(f"_entities: representations[{index}] {problem}")
        return super().entities_resolver(info, representations)

    def _shapes(self) -> dict[str, EntityShape]:
        if self._entity_shapes is None:
            shapes = {}
            for name, type_ in self.schema_converter.type_map.items():
                definition = getattr(type_, "definition", None)
                if isinstance(definition, StrawberryObjectDefinition) and any(
                    isinstance(d, Key) for d in definition.directives or ()
                ):
                    shapes[name] = EntityShape(definition)
            self._entity_shapes = shapes
        return self._entity_shapes


def _problem(representation: object, shapes: dict[str, EntityShape]) -> str | None:
    if not isinstance(representation, dict):
        return "must be an object with __typename and the entity's key fields"
    typename = representation.get("__typename")
    if not isinstance(typename, str) or not typename:
        return "has no __typename"
    shape = shapes.get(typename)
    if shape is None:
        known = ", ".join(sorted(shapes))
        return f"names {typename!r}, which is not an entity of this subgraph ({known})"
    problem = shape.problem(representation)
    return f"({typename}) {problem}" if problem else None


def _top_level_fields(field_set: str) -> list[str]:
    """`id` -> [id]; `id sku { a b }` -> [id, sku]: the fields a representation must carry."""
    fields, depth = [], 0
    for token in field_set.replace("{", " { ").replace("}", " } ").split():
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
        elif depth == 0:
            fields.append(token)
    return fields

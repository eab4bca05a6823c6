"""`_entities` that tells the caller which representation is malformed.

Strawberry's resolver indexes representations blindly: a missing `__typename`, an unknown type
name or a missing key field raises KeyError/TypeError, which we would have to mask as an
internal error. A router never sends such input, but a hand-written call or a misconfigured
router does, and deserves a BAD_USER_INPUT error that names the representation instead.

Checked representations go to Strawberry's own resolver (one `resolve_reference` per
representation); the `entity_batches` override (subgraph/overrides/entity_batches.py) hands a
type's whole share of a batch to its `resolve_references` instead.
"""

# No `from __future__ import annotations`: Strawberry reads this resolver's annotations to
# build the `_entities` field, and they must be real types.
import inspect
from typing import Any

import strawberry
from strawberry.federation.schema import FederationAny
from strawberry.federation.schema_directives import Key
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.union import StrawberryUnion

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
        self.origin = definition.origin
        # `resolve_references(info, keys)`: a type's whole share of a batch in one call.
        self.batched = hasattr(definition.origin, "resolve_references")
        resolve_reference = getattr(definition.origin, "resolve_reference", None)
        self.accepted: set[str] | None = (
            set(inspect.signature(resolve_reference).parameters) - {"info"}
            if resolve_reference
            else None
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
        shapes = self.entity_shapes()
        for index, representation in enumerate(representations):
            problem = _problem(representation, shapes)
            if problem is not None:
                raise BadUserInput(f"_entities: representations[{index}] {problem}")
        return self.resolve_entities(info, representations)

    def resolve_entities(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Checked representations resolved by Strawberry's own resolver."""
        return super().entities_resolver(info, representations)

    def entity_shapes(self) -> dict[str, EntityShape]:
        """Each entity type of the schema (the members of `_Entity`) by name."""
        if self._entity_shapes is None:
            shapes = {}
            entities = self.get_type_by_name("_Entity")
            for type_ in entities.types if isinstance(entities, StrawberryUnion) else ():
                definition = get_object_definition(type_, strict=True)
                shapes[definition.name] = EntityShape(definition)
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

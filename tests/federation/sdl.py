"""Read directive applications out of a parsed SDL, by coordinate (`Type.field` or `Type`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    value_from_ast_untyped,
)


def _arguments(directive: DirectiveNode) -> dict[str, Any]:
    return {a.name.value: value_from_ast_untyped(a.value) for a in directive.arguments or ()}


def _applications(document: DocumentNode) -> Iterator[tuple[str, DirectiveNode]]:
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            for directive in definition.directives or ():
                yield "schema", directive
        elif isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode):
            type_name = definition.name.value
            for directive in definition.directives or ():
                yield type_name, directive
            for field in definition.fields or ():
                for directive in field.directives or ():
                    yield f"{type_name}.{field.name.value}", directive
        elif isinstance(definition, EnumTypeDefinitionNode):
            for value in definition.values or ():
                for directive in value.directives or ():
                    yield f"{definition.name.value}.{value.name.value}", directive


def directive_uses(document: DocumentNode, name: str) -> list[tuple[str, dict[str, Any]]]:
    """(coordinate, arguments) of each application of `@name`."""
    return [
        (coordinate, _arguments(directive))
        for coordinate, directive in _applications(document)
        if directive.name.value == name
    ]

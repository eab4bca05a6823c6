"""Authentication of a whole operation before it runs, so a refusal carries no partial data."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionNode,
    get_operation_ast,
)
from strawberry.types import ExecutionContext

from subgraph.api.context import RequestContext
from subgraph.api.errors import Unauthenticated

# Root fields anyone may ask for: composition needs `_service`, tools need introspection.
PUBLIC_ROOT_FIELDS = frozenset({"_service", "__typename", "__schema", "__type"})
# Checked per entity instead (Order references and the `orders` fields ask for the caller):
# an error at `_entities.0.orders` lets the router place it at `user.orders` in its response.
CHECKED_PER_ENTITY = frozenset({"_entities"})


async def refusal(context: ExecutionContext) -> GraphQLError | None:
    """Why the operation must not run for this caller, or None.

    An operation that touches orders without a valid token is refused before anything runs.
    The fields check the caller too; checking here as well makes the refusal a single
    UNAUTHENTICATED error with no data, whatever the operation selected. The error points at
    the first root field that needed the token. `_entities` is left to its fields.
    """
    document = context.graphql_document
    if document is None:
        return None
    roots = _root_fields(document, context.operation_name)
    unchecked = PUBLIC_ROOT_FIELDS | CHECKED_PER_ENTITY
    protected = [f for f in roots or () if f.name.value not in unchecked]
    if roots is not None and not protected:
        return None
    error = await _authentication_error(context.context)
    if error is None:
        return None
    return _located(error, protected[0] if protected else None)


async def _authentication_error(request_context: object) -> Unauthenticated | None:
    if not isinstance(request_context, RequestContext):
        return Unauthenticated("Authentication required")
    try:
        await request_context.caller.principal()
    except Unauthenticated as error:
        return error
    return None


def _located(error: Unauthenticated, field: FieldNode | None) -> GraphQLError:
    if field is None:
        return error
    key = field.alias.value if field.alias else field.name.value
    return GraphQLError(error.message, nodes=[field], path=[key], extensions=error.extensions)


def _root_fields(document: DocumentNode, operation_name: str | None) -> list[FieldNode] | None:
    """The fields the operation selects at its root, through any fragments, in document
    order; None when the document names no such operation."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    fragments: dict[str, Any] = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields: list[FieldNode] = []
    spread: set[str] = set()
    pending: list[SelectionNode] = list(reversed(operation.selection_set.selections))
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            fields.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(reversed(selection.selection_set.selections))
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
            spread.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                pending.extend(reversed(fragment.selection_set.selections))
    return fields

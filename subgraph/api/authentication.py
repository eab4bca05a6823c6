"""Authentication of a whole operation before it runs, so a refusal carries no partial data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from subgraph.api.context import RequestContext
from subgraph.api.errors import Unauthenticated

# Root fields anyone may ask for: composition needs `_service`, tools need introspection.
PUBLIC_ROOT_FIELDS = frozenset({"_service", "__typename", "__schema", "__type"})


class RequireAuthentication(SchemaExtension):
    """Refuse, before anything runs, an operation that touches orders without a valid token.

    The fields check the caller too; checking here as well makes the refusal a single
    UNAUTHENTICATED error with no data, whatever the operation selected.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not _root_fields(document, context.operation_name).issubset(
            PUBLIC_ROOT_FIELDS
        ):
            caller_context = context.context
            if not isinstance(caller_context, RequestContext):
                context.result = _refused(Unauthenticated("Authentication required"))
            else:
                try:
                    await caller_context.caller.principal()
                except Unauthenticated as error:
                    context.result = _refused(error)
        yield


def _refused(error: Unauthenticated) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[error])


def _root_fields(document: DocumentNode, operation_name: str | None) -> set[str]:
    """Names of the fields the operation selects at its root, through any fragments."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {"<unknown operation>"}
    fragments: dict[str, Any] = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    names: set[str] = set()
    spread: set[str] = set()
    pending: list[SelectionNode] = list(operation.selection_set.selections)
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
            spread.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                pending.extend(fragment.selection_set.selections)
    return names

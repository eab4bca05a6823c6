"""What an operation must pass before it runs: size, depth, aliases, introspection, a token.

The limits are validation rules, and Strawberry's validation cache keys its entries on the rule
classes. Its limiter extensions create a new rule class per instance, so building them per
request (as factories are) would make every request a cache miss. The rule classes are
therefore built once per schema and added by a per-request `AddValidationRules`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NoSchemaIntrospectionCustomRule,
    SelectionNode,
    get_operation_ast,
    parse,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)

from subgraph.api.context import RequestContext
from subgraph.api.errors import Unauthenticated
from subgraph.settings import Settings

# Distinct documents kept parsed and validated; bounded so unique queries cannot grow memory.
CACHE_SIZE = 1024

# Root fields anyone may ask for: composition needs `_service`, tools need introspection.
PUBLIC_ROOT_FIELDS = frozenset({"_service", "__typename", "__schema", "__type"})


def validation_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """The guard rules, as classes built once so cached validations stay valid."""
    rules: list[type[ASTValidationRule]] = [
        query_depth_limiter.create_validator(settings.graphql_max_depth, should_ignore=None),
        max_aliases.create_validator(settings.graphql_max_aliases),
    ]
    if not settings.graphql_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def guard_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Per-request extension factories, in the order their hooks must run."""
    rules = list(validation_rules(settings))
    max_tokens = settings.graphql_max_tokens
    return [
        # Sets the parser's token limit in on_operation, before ParseCache parses; the limit is
        # part of the parse cache's key.
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        ParseCache,
        lambda: AddValidationRules(rules),
        # Its key is (schema, document, rules): stable because the rule classes above are.
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        RequireAuthentication,
    ]


_cached_parse = lru_cache(maxsize=CACHE_SIZE)(parse)


class ParseCache(SchemaExtension):
    """Strawberry's ParserCache, except that a document which does not parse is left to
    Strawberry's own parse step. Raised from an extension hook, the syntax error would leave
    the operation early and miss the error coding in `errors.MaskUnexpectedErrors`."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            with contextlib.suppress(Exception):
                context.graphql_document = _cached_parse(context.query, **context.parse_options)
        yield


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

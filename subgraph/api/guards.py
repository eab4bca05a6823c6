"""What a document must pass before it runs: size, depth, aliases, introspection, storable text.

The limits are validation rules, and Strawberry's validation cache keys its entries on the rule
classes. Its limiter extensions create a new rule class per instance, so building them per
request (as factories are) would make every request a cache miss. The rule classes are
therefore built once per schema and added by a per-request `AddValidationRules`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    ExecutionResult,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    StringValueNode,
    ValidationRule,
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

from subgraph.api.authentication import RequireAuthentication
from subgraph.api.errors import BadUserInput
from subgraph.settings import Settings

# Distinct documents kept parsed and validated; bounded so unique queries cannot grow memory.
CACHE_SIZE = 1024

UNSTORABLE_TEXT = "Text must be valid Unicode without NUL (\\u0000) characters"


def validation_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """The guard rules, as classes built once so cached validations stay valid."""
    rules: list[type[ASTValidationRule]] = [
        query_depth_limiter.create_validator(settings.graphql_max_depth, should_ignore=None),
        max_aliases.create_validator(settings.graphql_max_aliases),
        StorableStringLiterals,
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
        RefuseUnstorableVariables,
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


def storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON escapes can carry)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_storable(value: object) -> bool:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(storable(str(k)) and _all_storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_storable(v) for v in value)
    return True


class StorableStringLiterals(ValidationRule):
    """String literals in the document must be storable text (see `storable`)."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if not storable(node.value):
            self.report_error(GraphQLError(UNSTORABLE_TEXT, node))


class RefuseUnstorableVariables(SchemaExtension):
    """Variables must be storable text too: otherwise the database refuses them mid-request."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if not _all_storable(context.variables or {}):
            context.result = ExecutionResult(data=None, errors=[BadUserInput(UNSTORABLE_TEXT)])
        yield

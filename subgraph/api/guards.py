"""What a document must pass before it runs: size, depth, aliases, introspection, storable text.

The limits are validation rules, built once per schema (Strawberry's limiter extensions make a
new rule class per instance, and the `document_cache` override keys its validations on the
classes) and added by the per-request `OperationGuards`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from graphql import (
    ASTValidationRule,
    ExecutionResult,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    StringValueNode,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension, max_aliases, query_depth_limiter

from subgraph.api.authentication import refusal
from subgraph.api.errors import BadUserInput, MaskUnexpectedErrors
from subgraph.settings import Settings

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


def guard_extension(settings: Settings) -> Callable[[], SchemaExtension]:
    """The factory of the per-request extension that guards every operation."""
    rules = validation_rules(settings)
    max_tokens = settings.graphql_max_tokens
    guards: type[OperationGuards] = OperationGuards
    if settings.override("document_cache"):
        from subgraph.overrides.document_cache import CachedOperationGuards

        guards = CachedOperationGuards
    return lambda: guards(rules=rules, max_tokens=max_tokens)


class OperationGuards(MaskUnexpectedErrors):
    """Every check an operation passes, in one extension, and the masking of what it returns.

    Strawberry sets up each extension's hooks on every request, and separate extensions for
    these checks cost more than the work they guard. In order:

    - the document is parsed within the token limit and validated with the guard rules (what
      Strawberry's MaxTokensLimiter and AddValidationRules do); Strawberry parses and validates
      it, or, with the `document_cache` override, the cache does;
    - before execution, an operation that touches orders needs a valid token
      (`authentication.refusal`), and variables must be storable text (else the database would
      refuse them mid-request);
    - when the operation ends, unexpected errors are masked and every error gets a code
      (`errors.MaskUnexpectedErrors`).
    """

    def __init__(self, *, rules: tuple[type[ASTValidationRule], ...], max_tokens: int) -> None:
        super().__init__()
        self.rules = rules
        self.max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Part of the parse cache's key, so a document parsed under the limit stays cached.
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield from super().on_operation()

    async def on_execute(self) -> AsyncIterator[None]:
        self.executed = True
        context = self.execution_context
        error = await refusal(context)
        if error is None and not _all_storable(context.variables or {}):
            error = BadUserInput(UNSTORABLE_TEXT)
        if error is not None:
            context.result = ExecutionResult(data=None, errors=[error])
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

"""What a document must pass before it runs: size, depth, aliases, introspection, storable text.

The limits are validation rules, and the validation cache keys its entries on the rule classes.
Strawberry's limiter extensions create a new rule class per instance, so building them per
request (as factories are) would make every request a cache miss. The rule classes are
therefore built once per schema and added by the per-request `OperationGuards`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    StringValueNode,
    ValidationRule,
    parse,
)
from strawberry.extensions import SchemaExtension, max_aliases, query_depth_limiter
from strawberry.schema.schema import validate_document

from subgraph.api.authentication import refusal
from subgraph.api.errors import BadUserInput, MaskUnexpectedErrors
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


def guard_extension(settings: Settings) -> Callable[[], SchemaExtension]:
    """The factory of the per-request extension that guards every operation."""
    rules = validation_rules(settings)
    max_tokens = settings.graphql_max_tokens
    return lambda: OperationGuards(rules=rules, max_tokens=max_tokens)


_cached_parse = lru_cache(maxsize=CACHE_SIZE)(parse)


class _ParsedText:
    """A parsed document that hashes and compares by the text it was parsed from.

    graphql-core hashes a DocumentNode by walking the whole tree, on every request; the text
    (with the parse options) names the same document for the price of a string hash.
    """

    __slots__ = ("document", "key")

    def __init__(self, key: tuple[object, ...], document: DocumentNode) -> None:
        self.key = key
        self.document = document

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ParsedText) and self.key == other.key


@lru_cache(maxsize=CACHE_SIZE)
def _validation_errors(
    schema: GraphQLSchema, parsed: _ParsedText, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    # Keyed on the rules too: stable, as their classes are built once.
    return validate_document(schema, parsed.document, rules)


class OperationGuards(MaskUnexpectedErrors):
    """Every check an operation passes, in one extension, and the masking of what it returns.

    Strawberry sets up each extension's hooks on every request, and separate extensions for
    these checks cost more than the cached work they guard. In order:

    - the document is parsed and validated once per distinct text, within the token limit and
      the guard rules (what Strawberry's MaxTokensLimiter, ParserCache, AddValidationRules and
      ValidationCache do). A document that does not parse is left to Strawberry's own parse
      step: raised from a hook, the syntax error would skip the error coding;
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

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            with contextlib.suppress(Exception):
                context.graphql_document = _cached_parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # parsed, or the operation ended there
        if context.query:
            parsed = _ParsedText((context.query, *context.parse_options.items()), document)
            context.pre_execution_errors = _validation_errors(
                context.schema._schema, parsed, context.validation_rules
            )
        else:
            context.pre_execution_errors = validate_document(
                context.schema._schema, document, context.validation_rules
            )
        yield

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

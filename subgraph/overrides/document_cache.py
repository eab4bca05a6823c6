"""Each distinct document parsed and validated once, not on every request.

Strawberry parses and validates every request's document. Here both are cached per distinct
text (with the parse options, which carry the token limit), in bounded LRU caches: what
Strawberry's ParserCache and ValidationCache extensions do, inside our one guards extension,
and keyed on the text rather than the DocumentNode, which graphql-core hashes by walking the
whole tree. Validation runs through Strawberry's `validate_document` on the graphql-core schema
(`schema._schema`), as Strawberry's own validation step does, and sets
`pre_execution_errors`, which makes Strawberry skip its own.

A document that does not parse is left to Strawberry's own parse step: raised from a hook, the
syntax error would skip the error coding.

Measured (docs/upgrading.md, `python -m bench.inprocess`, 7 paired rounds with an A/A
control): turned off, getOrder costs x7.6 the CPU per request, getOrders x4.1, placeOrder
x3.7, entities_user_50 x1.5, all far beyond the run's spread. Kept. Switch: LIBRARY_OVERRIDES
name `document_cache`; off, Strawberry parses and validates every request itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.schema.schema import validate_document

from subgraph.api.guards import OperationGuards

# Distinct documents kept parsed and validated; bounded so unique queries cannot grow memory.
CACHE_SIZE = 1024

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
    # Keyed on the rules too: stable, as their classes are built once (guards.validation_rules).
    return validate_document(schema, parsed.document, rules)


class CachedOperationGuards(OperationGuards):
    """The guards, with the document parsed and validated from the caches."""

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

"""The federated schema, built once per process with its guards and error masking."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from subgraph.api.errors import MaskUnexpectedErrors
from subgraph.api.mutations import Mutation
from subgraph.api.queries import Query
from subgraph.api.types import ProductType, UserType
from subgraph.settings import Settings

FEDERATION_VERSION = "2.11"
CACHE_SIZE = 1024


class OrdersSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Silence Strawberry's per-error logging: client errors are expected, and unexpected
        ones are logged once, with the request id, by MaskUnexpectedErrors."""


def build_schema(settings: Settings) -> OrdersSchema:
    # The limiters' validation rules are classes made when a limiter is constructed. Made per
    # request, they were new classes every time, so the validation cache (keyed by the rules)
    # never hit and every request re-ran full validation. Made once here, they are the same
    # rules on every request and a known query is validated once per process.
    guard_rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(guard_rules),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    ]
    return OrdersSchema(
        query=Query,
        mutation=Mutation,
        types=[UserType, ProductType],
        extensions=extensions,
        federation_version=FEDERATION_VERSION,  # type: ignore[arg-type]
    )

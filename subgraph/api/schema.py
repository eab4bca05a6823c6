"""The federated schema, built once per process with its guards and error masking."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from subgraph.api.entities import CheckedEntitiesSchema
from subgraph.api.errors import MaskUnexpectedErrors
from subgraph.api.mutations import Mutation
from subgraph.api.queries import Query
from subgraph.api.types import ProductType, UserType
from subgraph.settings import Settings

FEDERATION_VERSION = "2.11"
CACHE_SIZE = 1024


class OrdersSchema(CheckedEntitiesSchema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Silence Strawberry's per-error logging: client errors are expected, and unexpected
        ones are logged once, with the request id, by MaskUnexpectedErrors."""


def build_schema(settings: Settings) -> OrdersSchema:
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
    ]
    return OrdersSchema(
        query=Query,
        mutation=Mutation,
        types=[UserType, ProductType],
        extensions=extensions,
        federation_version=FEDERATION_VERSION,  # type: ignore[arg-type]
    )

"""The federated schema, built once per process with its guards and error masking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from subgraph.api.entities import CheckedEntitiesSchema
from subgraph.api.errors import (
    ClientError,
    has_code,
    is_unexpected,
    masked,
    request_id_of,
    with_code,
)
from subgraph.api.guards import guard_extension
from subgraph.api.mutations import Mutation
from subgraph.api.queries import Query
from subgraph.api.sdl import without_directives
from subgraph.api.subscriptions import Subscription
from subgraph.api.types import ProductType, UserType
from subgraph.settings import ROUTER_DIRECTIVES, Settings
from subgraph.telemetry.graphql import OperationObserver, build_observer, schema_extensions

FEDERATION_VERSION = "2.11"


class OrdersSchema(CheckedEntitiesSchema):
    def __init__(
        self,
        *,
        router_directives: frozenset[str],
        observer: OperationObserver | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.observer = observer or OperationObserver(metrics=False, spans=False)
        self._omitted = [name for name in ROUTER_DIRECTIVES if name not in router_directives]
        self._sdl: str | None = None

    @property
    def sdl(self) -> str:
        """The SDL for composition (`_service { sdl }`, `orders-subgraph schema`), printed once."""
        if self._sdl is None:
            self._sdl = without_directives(self.as_str(), self._omitted)
        return self._sdl

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Silence Strawberry's per-error logging: client errors are expected, and unexpected
        ones are logged once, with the request id, by errors.MaskUnexpectedErrors."""

    # Strawberry's runner; the `extension_hooks` override swaps in its own (same constructor).
    extensions_runner_class: type[SchemaExtensionsRunner] = SchemaExtensionsRunner

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        self.observer.seen(execution_context)  # observability: the operation's name and type
        return self.extensions_runner_class(
            execution_context=execution_context, extensions=extensions
        )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Strawberry's `execute`, observed (telemetry/graphql.py), with a last check that every
        error is masked or coded."""
        observation = self.observer.start(context_value)  # None: nothing observes
        try:
            result = await super().execute(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                allowed_operation_types=allowed_operation_types,
                operation_extensions=operation_extensions,
            )
        except BaseException:
            if observation is not None:
                observation.finish(None)
            raise
        # An exception raised by an extension hook ends the operation before the masking
        # sees the result: mask and code what it missed, so nothing leaves unmasked.
        if result.errors and not all(has_code(e) for e in result.errors):
            request_id = request_id_of(context_value)
            result.errors = [
                masked(e, request_id)
                if is_unexpected(e)
                else e
                if has_code(e)
                else with_code(e, ClientError.code)
                for e in result.errors
            ]
        if observation is not None:
            observation.finish(result)
        return result


class RememberedNames(NameConverter):
    """Strawberry's naming (snake_case to camelCase), each name converted once.

    To find each argument's value, Strawberry converts the argument's Python name again on
    every request: `to_camel_case` was 2% of a getOrders, and three calls per User of an
    `_entities` batch. The names are the schema's own, so the cache stays small.
    """

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


def build_schema(settings: Settings) -> OrdersSchema:
    """The schema, with the library overrides LIBRARY_OVERRIDES leaves on (see `overrides`)."""
    options: dict[str, Any] = {}
    schema_class = OrdersSchema
    mixins: list[type[Any]] = []
    if settings.override("executor"):
        from subgraph.overrides.executor import LeafFastExecutionContext

        options["execution_context_class"] = LeafFastExecutionContext
    if settings.override("extension_hooks"):
        from subgraph.overrides.extension_hooks import HookRunnerSchema

        mixins.append(HookRunnerSchema)
    if settings.override("entity_batches"):
        from subgraph.overrides.entity_batches import BatchedEntitiesSchema

        mixins.append(BatchedEntitiesSchema)
    if mixins:
        schema_class = cast(
            "type[OrdersSchema]", type(OrdersSchema.__name__, (*mixins, OrdersSchema), {})
        )
    # One extension: each more costs its hook setup on every request.
    extensions: list[Any] = [guard_extension(settings), *schema_extensions(settings)]
    return schema_class(
        router_directives=settings.federation_directives,
        observer=build_observer(settings),
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[UserType, ProductType],
        extensions=extensions,
        config=StrawberryConfig(name_converter=RememberedNames()),
        federation_version=FEDERATION_VERSION,  # type: ignore[arg-type]
        **options,
    )

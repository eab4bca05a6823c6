"""graphql-core's executor with a short path for the fields most answers are made of.

A plain leaf field (an order's `id`, `status`, `quantity`...: a scalar or enum read off the
object, no resolver, no arguments) cost several microseconds in graphql-core 3.3, most of it
spent on what such a field never uses: a `GraphQLResolveInfo` tuple, its list of nodes, the
argument check, Strawberry's resolver wrappers and four levels of `complete_value`. A page of
20 orders has 100 of them. `execute_fields` here answers such fields with what graphql-core
would compute, the attribute and the type's `coerce_output_value`, and hands the other fields
of the selection (errors, nulls of non-null fields, awaitables, resolvers, arguments,
middleware) to graphql-core unchanged, so what a client sees, errors included, is what
graphql-core answers, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, cast

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

LeafPlan = tuple[Callable[[Any], Any], GraphQLLeafType, bool]
"""How to read a plain leaf field off its object, its leaf type, and whether it is non-null."""

_PLAN = "subgraph.leaf_plan"
_UNKNOWN = object()
_LONG = object()  # "graphql-core must answer this field"


def leaf_plan(field: GraphQLField) -> LeafPlan | None:
    """How to answer `field` on the short path, or None when it needs graphql-core's."""
    resolve = field.resolve
    # Strawberry marks the resolvers of fields without resolver, extension or error handler.
    if resolve is None or not getattr(resolve, "_is_default", False) or field.args:
        return None
    non_null = isinstance(field.type, GraphQLNonNull)
    field_type = get_nullable_type(field.type)
    if not is_leaf_type(field_type):
        return None
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    read: Callable[[Any], Any]
    if isinstance(definition, StrawberryField) and definition.default_resolver is getattr:
        read = attrgetter(definition.python_name)  # what Strawberry's resolver ends up doing
    else:
        read = lambda source: resolve(source, None)  # noqa: E731 - its resolver, info unused
    return read, field_type, non_null  # type: ignore[return-value]


def _probe() -> None:
    """A function no middleware has seen: wrapped only if the manager wraps every resolver."""


class LeafFastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context; plain leaf fields skip the general machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Strawberry always passes a middleware manager, empty unless an extension resolves.
        manager = self.middleware_manager
        self.short_path = manager is None or manager.get_field_resolver(_probe) is _probe

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        if not self.short_path:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        rest: dict[str, Any] = {}  # the fields graphql-core answers
        fields = parent_type.fields
        for name, field_details_list in grouped_field_set.items():
            value = self._short(fields, source_value, field_details_list)
            results[name] = value  # a place in the answer's order, even for the rest
            if value is _LONG:
                rest[name] = field_details_list
        if not rest:
            return results
        answered = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(answered):

            async def merged() -> dict[str, Any]:
                return _merge(results, rest, await answered)

            return merged()
        return _merge(results, rest, cast("dict[str, Any]", answered))

    def _short(self, fields: dict[str, GraphQLField], source: Any, details: Any) -> Any:
        """The field's answer by the short path, or _LONG when graphql-core must answer it.

        Anything unusual goes the long way, which reads the attribute again: reading twice
        changes nothing.
        """
        node = details[0].node
        field = fields.get(node.name.value)  # None for __typename
        plan = None if field is None or node.arguments else _plan(field)
        if plan is None:
            return _LONG
        read, leaf_type, non_null = plan
        try:
            value = read(source)
            if value is None:
                return _LONG if non_null else None
            if isinstance(value, Exception) or self.is_awaitable(value):
                return _LONG
            coerced = leaf_type.coerce_output_value(value)
        except Exception:  # noqa: BLE001 - graphql-core raises and locates it
            return _LONG
        return _LONG if coerced is None or coerced is Undefined else coerced


def _merge(
    results: dict[str, Any], rest: dict[str, Any], answered: dict[str, Any]
) -> dict[str, Any]:
    for name in rest:
        if name in answered:
            results[name] = answered[name]
        else:  # a field graphql-core skips (it does not exist on the type)
            del results[name]
    return results


def _plan(field: GraphQLField) -> LeafPlan | None:
    # Kept in the field's own extensions: built once per field, gone with its schema.
    plan = field.extensions.get(_PLAN, _UNKNOWN)
    if plan is _UNKNOWN:
        plan = field.extensions[_PLAN] = leaf_plan(field)
    return plan  # type: ignore[no-any-return]

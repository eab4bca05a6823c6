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

A list of objects made only of such fields (a page of orders, a user's recent orders) skips
graphql-core's per-item machinery too: `complete_list_value` builds each item's answer in one
loop. At the first item it cannot answer that way (a null, an error, a value to coerce that
does not coerce), it hands the whole list back to graphql-core, which answers it from scratch.

Measured (docs/upgrading.md, `python -m bench.inprocess`, 7 paired rounds with an A/A
control): turned off, entities_user_50 costs x1.38 the CPU per request (the run's spread
0.77-1.15), getOrders x1.21 (within its spread 0.77-1.43). Kept. Switch: LIBRARY_OVERRIDES
name `executor`; off, Strawberry's own execution context runs.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, cast

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    get_nullable_type,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

LeafPlan = tuple[Callable[[Any], Any], GraphQLLeafType, bool]
"""How to read a plain leaf field off its object, its leaf type, and whether it is non-null."""

ItemPlan = list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], bool]]
"""Each response key of a list item's selection: read, coerce, and whether it is non-null."""

_PLAN = "subgraph.leaf_plan"
_UNKNOWN = object()
_LONG = object()  # "graphql-core must answer this field"
# Values that are never awaitable nor errors: no need to ask.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool})


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
        # Like graphql-core's subfield cache: keyed by the selection's identity, which the
        # entry keeps alive so the id cannot be reused during the operation.
        self._item_plans: dict[tuple[str, int], tuple[Any, ItemPlan | None]] = {}

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
            value = self._short(parent_type, fields, source_value, field_details_list)
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

    def _short(
        self,
        parent_type: GraphQLObjectType,
        fields: dict[str, GraphQLField],
        source: Any,
        details: Any,
    ) -> Any:
        """The field's answer by the short path, or _LONG when graphql-core must answer it.

        Anything unusual goes the long way, which reads the attribute again: reading twice
        changes nothing.
        """
        node = details[0].node
        name = node.name.value
        field = fields.get(name)
        if field is None:  # a meta field; routers add __typename to most selections
            return parent_type.name if name == "__typename" else _LONG
        plan = None if node.arguments else _plan(field)
        if plan is None:
            return _LONG
        read, leaf_type, non_null = plan
        try:
            return _leaf(read(source), leaf_type.coerce_output_value, non_null, self.is_awaitable)
        except Exception:  # noqa: BLE001 - graphql-core raises and locates it
            return _LONG

    def complete_list_value(
        self,
        return_type: GraphQLList[Any],
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        plan = self._item_plan(return_type, field_details_list, result)
        if plan is not None:
            answer = self._items(plan, result, isinstance(return_type.of_type, GraphQLNonNull))
            if answer is not None:
                return answer
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _item_plan(
        self, return_type: GraphQLList[Any], details: Any, result: Any
    ) -> ItemPlan | None:
        """How to answer each item of this list on the short path, or None if it cannot be."""
        item_type = get_nullable_type(return_type.of_type)
        if (
            not self.short_path
            or type(result) not in (list, tuple)
            or not isinstance(item_type, GraphQLObjectType)
            or item_type.is_type_of is not None
            or details[0].node.directives  # @stream, or anything else graphql-core must see
        ):
            return None
        key = (item_type.name, id(details))
        cached = self._item_plans.get(key)
        if cached is None:
            cached = self._item_plans[key] = (details, self._plan_items(item_type, details))
        return cached[1]

    def _plan_items(self, item_type: GraphQLObjectType, details: Any) -> ItemPlan | None:
        grouped, new_defer_usages, forbidden = self.collect_subfields(item_type, details)
        if new_defer_usages or forbidden:
            return None
        type_name = item_type.name
        plan: ItemPlan = []
        for key, sub_details in grouped.items():
            node = sub_details[0].node
            if node.arguments or any(d.defer_usage is not None for d in sub_details):
                return None
            name = node.name.value
            if name == "__typename":
                plan.append((key, lambda _item: type_name, _same, True))
                continue
            field = item_type.fields.get(name)
            leaf = None if field is None else _plan(field)
            if leaf is None:
                return None
            read, leaf_type, non_null = leaf
            plan.append((key, read, leaf_type.coerce_output_value, non_null))
        return plan

    def _items(self, plan: ItemPlan, items: Any, items_non_null: bool) -> list[Any] | None:
        """The list's answer, or None at the first item graphql-core must answer."""
        is_awaitable = self.is_awaitable
        answer: list[Any] = []
        try:
            for item in items:
                if item is None:
                    if items_non_null:
                        return None
                    answer.append(None)
                    continue
                if isinstance(item, Exception) or is_awaitable(item):
                    return None
                values: dict[str, Any] = {}
                for key, read, coerce, non_null in plan:
                    value = _leaf(read(item), coerce, non_null, is_awaitable)
                    if value is _LONG:
                        return None
                    values[key] = value
                answer.append(values)
        except Exception:  # noqa: BLE001 - graphql-core raises and locates it
            return None
        return answer


def _leaf(
    value: Any, coerce: Callable[[Any], Any], non_null: bool, is_awaitable: Callable[[Any], bool]
) -> Any:
    """What graphql-core answers for a plain leaf field's value, or _LONG where it must answer
    (a null of a non-null field, an error, an awaitable, a value that does not coerce)."""
    if value is None:
        return _LONG if non_null else None
    if type(value) not in _PLAIN and (isinstance(value, Exception) or is_awaitable(value)):
        return _LONG
    coerced = coerce(value)
    return _LONG if coerced is None or coerced is Undefined else coerced


def _same(value: Any) -> Any:
    return value


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

"""The short path for plain leaf fields answers what graphql-core answers, errors included."""

from __future__ import annotations

import asyncio
import enum
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from subgraph.overrides.executor import LeafFastExecutionContext


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    id: strawberry.ID
    count: int
    price: float
    name: str
    ok: bool
    colour: Colour
    at: datetime
    note: str | None
    must: str  # set to None on some items: a non-null field without a value

    @strawberry.field
    def label(self, prefix: str = "#") -> str:
        return f"{prefix}{self.id}"

    @strawberry.field
    async def later(self) -> int:
        return self.count * 2


AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def item(n: int, **overrides: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID(str(n)),
        "count": n,
        "price": n / 4,
        "name": f"item {n}",
        "ok": n % 2 == 0,
        "colour": Colour.RED if n % 2 else Colour.BLUE,
        "at": AT,
        "note": None if n % 3 else "third",
        "must": "here",
    }
    values.update(overrides)
    return Item(**values)


ITEMS = [item(n) for n in range(1, 6)]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS

    @strawberry.field
    def broken(self) -> list[Item]:
        # A count that is no Int, a colour that is no Colour, a missing non-null string.
        return [item(1, count="many"), item(2, colour="green"), item(3, must=None)]

    @strawberry.field
    def maybe(self) -> list[Item | None]:
        return [ITEMS[0], None, ITEMS[1]]

    @strawberry.field
    def holes(self) -> list[Item]:
        return [ITEMS[0], None, ITEMS[1]]  # type: ignore[list-item]  # a null where none may be

    @strawberry.field
    def pair(self) -> list[Item]:
        return (ITEMS[0], ITEMS[1])  # type: ignore[return-value]  # any iterable will do


def run(query: str, context_class: type, **schema_options: Any) -> dict[str, Any]:
    schema = strawberry.Schema(query=Query, execution_context_class=context_class, **schema_options)
    result = asyncio.run(schema.execute(query))
    return {
        # As JSON text, so the order of the fields counts: clients may rely on it.
        "data": json.dumps(result.data, default=str),
        "errors": sorted(
            (e.message, tuple(e.path or ()), str(e.locations)) for e in result.errors or ()
        ),
    }


QUERIES = {
    "every leaf": "{ items { id count price name ok colour at note must } }",
    "aliases and typename": "{ all: items { key: id n: count __typename c2: count } }",
    "arguments and resolvers": '{ items { label(prefix: "no. ") later count } }',
    "resolvers between leaves": "{ items { id later count label name } }",
    "coercion failures and a null non-null": "{ broken { id count colour must } }",
    "a value no Int": "{ broken { count } }",
    "a value no Colour": "{ broken { colour } }",
    "a null non-null": "{ broken { must } }",
    "errors beside values": "{ items { id } broken { count } }",
    "null items": "{ maybe { id name } }",
    "a null non-null item": "{ holes { id name } }",
    "a tuple": "{ pair { id __typename } }",
    "only typename": "{ items { __typename } }",
    "fragments and directives": (
        "query { items { ...F ... on Item { count } name @skip(if: true) ok @include(if: true) } }"
        " fragment F on Item { id colour }"
    ),
    "a field asked twice": "{ items { id id count } }",
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_the_short_path_answers_what_graphql_core_answers(query: str) -> None:
    expected = run(query, StrawberryGraphQLCoreExecutionContext)
    assert run(query, LeafFastExecutionContext) == expected


def test_failures_are_reported_as_graphql_core_reports_them() -> None:
    answer = run(QUERIES["coercion failures and a null non-null"], LeafFastExecutionContext)
    assert answer["data"] == "null"  # a non-null list item failed, so the whole list is null
    messages = [message for message, _, _ in answer["errors"]]
    assert any("Int cannot represent non-integer value: 'many'" in m for m in messages)
    paths = {path for _, path, _ in answer["errors"]}
    assert ("broken", 0, "count") in paths
    answer = run(QUERIES["a null non-null"], LeafFastExecutionContext)
    assert answer["data"] == "null"
    assert [(m, p) for m, p, _ in answer["errors"]] == [
        ("Cannot return null for non-nullable field Item.must.", ("broken", 2, "must"))
    ]


def test_a_custom_default_resolver_is_still_called() -> None:
    def shouting(source: object, name: str) -> object:
        value = getattr(source, name)
        return value.upper() if isinstance(value, str) else value

    query = "{ items { name note } }"
    config = {"config": StrawberryConfig(default_resolver=shouting)}
    answer = run(query, LeafFastExecutionContext, **config)
    assert answer == run(query, StrawberryGraphQLCoreExecutionContext, **config)
    assert json.loads(answer["data"])["items"][0]["name"] == "ITEM 1"


class Doubling(SchemaExtension):
    """Middleware over every resolver: the short path must step aside for it."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value * 2 if isinstance(value, int) and not isinstance(value, bool) else value


def test_resolver_middleware_still_sees_every_field() -> None:
    answer = run("{ items { count } }", LeafFastExecutionContext, extensions=[Doubling])
    assert [i["count"] for i in json.loads(answer["data"])["items"]] == [2, 4, 6, 8, 10]


class CountingInfo(LeafFastExecutionContext):
    built = 0

    def build_resolve_info(self, *args: Any, **kwargs: Any) -> Any:
        CountingInfo.built += 1
        return super().build_resolve_info(*args, **kwargs)


class CountingObjects(LeafFastExecutionContext):
    completed = 0

    def complete_object_value(self, *args: Any, **kwargs: Any) -> Any:
        CountingObjects.completed += 1
        return super().complete_object_value(*args, **kwargs)


def test_a_list_of_plain_objects_is_answered_in_one_loop() -> None:
    CountingObjects.completed = 0
    answer = run("{ items { id count colour __typename } maybe { name } }", CountingObjects)
    data = json.loads(answer["data"])
    assert [i["count"] for i in data["items"]] == [1, 2, 3, 4, 5]
    assert data["maybe"] == [{"name": "item 1"}, None, {"name": "item 2"}]
    assert CountingObjects.completed == 0  # graphql-core completed none of the 8 items


def test_a_list_with_one_bad_item_is_answered_by_graphql_core() -> None:
    CountingObjects.completed = 0
    answer = run("{ broken { id } }", CountingObjects)
    assert json.loads(answer["data"])["broken"] == [{"id": "1"}, {"id": "2"}, {"id": "3"}]
    answer = run("{ broken { id count } }", CountingObjects)
    assert answer["data"] == "null"  # item 1's count is no Int, and the list is non-null
    assert CountingObjects.completed > 0


def test_plain_leaves_build_no_resolve_info() -> None:
    """What the short path saves: graphql-core builds an info object for every field."""
    CountingInfo.built = 0
    answer = run("{ items { id count colour at note } }", CountingInfo)
    assert len(json.loads(answer["data"])["items"]) == 5
    assert CountingInfo.built == 1  # `items` itself, not its 25 leaves

"""FEDERATION_DIRECTIVES: which router directives the printed SDL keeps, read like any setting."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, build_ast_schema, parse
from pydantic import ValidationError

from subgraph.api.schema import build_schema
from subgraph.api.sdl import without_directives
from subgraph.settings import Settings

LINK = 'schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: [{}]) {{'
SDL = (
    LINK.format('"@authenticated", "@key", "@listSize"')
    + """
  query: Query
}

type Query {
  orders(limit: Int): [Int!]! @listSize(slicingArguments: ["limit"]) @authenticated
  order: Int @authenticated
  open: Int
}
"""
)


def test_leaving_out_nothing_returns_the_text_unchanged() -> None:
    assert without_directives(SDL, []) == SDL


def test_leaving_out_authenticated_removes_its_uses_and_its_import() -> None:
    cut = without_directives(SDL, ["authenticated"])
    assert cut.splitlines()[0] == LINK.format('"@key", "@listSize"')
    assert '  orders(limit: Int): [Int!]! @listSize(slicingArguments: ["limit"])\n' in cut
    assert "  order: Int\n" in cut
    assert "authenticated" not in cut


def test_leaving_out_both_keeps_every_other_line_as_it_was() -> None:
    cut = without_directives(SDL, ["authenticated", "listSize"])
    assert cut.splitlines()[0] == LINK.format('"@key"')
    assert cut.splitlines()[1:] == [
        "  query: Query",
        "}",
        "",
        "type Query {",
        "  orders(limit: Int): [Int!]!",
        "  order: Int",
        "  open: Int",
        "}",
    ]


def test_an_import_list_left_empty_is_printed_empty() -> None:
    sdl = LINK.format('"@authenticated"') + "\n  query: Query\n}\ntype Query { a: Int }\n"
    assert without_directives(sdl, ["authenticated"]).splitlines()[0] == LINK.format("")


def test_links_to_other_specs_keep_their_imports() -> None:
    sdl = (
        'extend schema @link(url: "https://example.com/spec/v1", import: ["@authenticated"])\n'
        "type Query { a: Int }\n"
    )
    assert without_directives(sdl, ["authenticated"]) == sdl


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("authenticated,listSize", {"authenticated", "listSize"}),
        (" Authenticated , LISTSIZE ", {"authenticated", "listSize"}),
        ("listsize", {"listSize"}),
        ("", set()),
        (" , ", set()),
    ],
)
def test_names_are_read_forgiving_whitespace_and_letter_case(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: set[str]
) -> None:
    monkeypatch.setenv("FEDERATION_DIRECTIVES", value)
    assert Settings().federation_directives == expected


def test_by_default_both_directives_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEDERATION_DIRECTIVES", raising=False)
    assert Settings().federation_directives == {"authenticated", "listSize"}


def test_an_unknown_name_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDERATION_DIRECTIVES", "authenticated,bogus")
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "federation_directives" in message
    assert "unknown directive(s) bogus" in message


def fields_of(schema: GraphQLSchema) -> dict[str, list[tuple[str, str, list[str]]]]:
    """Each type's fields with their types and arguments."""
    return {
        name: [
            (field_name, str(field.type), [f"{a}: {arg.type}" for a, arg in field.args.items()])
            for field_name, field in getattr(type_, "fields", {}).items()
        ]
        for name, type_ in schema.type_map.items()
    }


@pytest.mark.parametrize("value", ["", "authenticated", "listSize", "authenticated,listSize"])
def test_every_choice_prints_a_valid_schema_with_the_same_types_and_fields(value: str) -> None:
    full = build_ast_schema(parse(build_schema(Settings()).sdl), assume_valid_sdl=True)
    chosen = build_schema(Settings(federation_directives=value)).sdl
    shaped = build_ast_schema(parse(chosen), assume_valid_sdl=True)
    assert fields_of(shaped) == fields_of(full)
    for name in ("authenticated", "listSize"):
        assert (f"@{name}" in chosen) == (name in value)

"""The printed SDL is a compatible superset of the shared contract."""

from __future__ import annotations

from pathlib import Path

from graphql import (
    BreakingChangeType,
    build_ast_schema,
    find_breaking_changes,
    parse,
)

from subgraph.api.schema import build_schema
from subgraph.settings import Settings

CONTRACT = Path(__file__).resolve().parents[2] / "contract" / "orders.graphql"

# Federation's own definitions, which the contract leaves to the printer.
FEDERATION_PRELUDE = """
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
"""


def contract_schema_text() -> str:
    assert CONTRACT.exists(), f"the contract is expected at {CONTRACT}"
    return FEDERATION_PRELUDE + CONTRACT.read_text()


def test_the_printed_sdl_has_no_breaking_change_against_the_contract() -> None:
    contract = build_ast_schema(parse(contract_schema_text()))
    ours = build_ast_schema(parse(build_schema(Settings()).as_str()), assume_valid_sdl=True)
    changes = [
        c
        for c in find_breaking_changes(contract, ours)
        # Our extra directives (@link, @authenticated, @listSize) are printed, not declared.
        if c.type is not BreakingChangeType.DIRECTIVE_REMOVED
    ]
    assert changes == [], "\n".join(f"{c.type.name}: {c.description}" for c in changes)


def test_every_contract_type_and_field_exists_with_the_same_nullability() -> None:
    contract = build_ast_schema(parse(contract_schema_text()))
    ours = build_ast_schema(parse(build_schema(Settings()).as_str()), assume_valid_sdl=True)
    for name, contract_type in contract.type_map.items():
        if name.startswith("__"):
            continue
        assert name in ours.type_map, f"type {name} is missing"
        fields = getattr(contract_type, "fields", None) or {}
        for field_name, field in fields.items():
            our_field = ours.type_map[name].fields[field_name]  # type: ignore[attr-defined]
            assert str(our_field.type) == str(field.type), f"{name}.{field_name}"
            for arg_name, arg in field.args.items():
                our_arg = our_field.args[arg_name]
                assert str(our_arg.type) == str(arg.type), f"{name}.{field_name}({arg_name})"
                assert our_arg.default_value == arg.default_value, (
                    f"{name}.{field_name}({arg_name}) default"
                )

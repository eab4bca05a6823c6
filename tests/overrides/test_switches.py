"""LIBRARY_OVERRIDES: validated like every setting, and `none` leaves only the libraries' paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from subgraph.api.schema import build_schema
from subgraph.overrides import ALL, OVERRIDES
from subgraph.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", ALL),
        ("ALL", ALL),
        ("none", frozenset()),
        ("", frozenset()),
        ("executor, Document_Cache", frozenset({"executor", "document_cache"})),
    ],
)
def test_the_setting_takes_names_all_or_none(value: str, expected: frozenset[str]) -> None:
    assert Settings(library_overrides=value).library_overrides == expected


def test_every_override_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIBRARY_OVERRIDES", raising=False)
    assert Settings().library_overrides == ALL


@pytest.mark.parametrize("value", ["executor,fast_everything", "all,none", "on"])
def test_unknown_names_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="unknown override"):
        Settings(library_overrides=value)


def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBRARY_OVERRIDES", "entity_batches")
    assert Settings().library_overrides == {"entity_batches"}
    monkeypatch.setenv("LIBRARY_OVERRIDES", "nope")
    with pytest.raises(ValidationError):
        Settings()


def test_with_none_the_schema_is_strawberrys_own() -> None:
    schema = build_schema(Settings(library_overrides="none"))
    assert schema.execution_context_class is StrawberryGraphQLCoreExecutionContext
    assert all(not c.__module__.startswith("subgraph.overrides") for c in type(schema).__mro__)
    runner = schema.create_extensions_runner(None, [])  # type: ignore[arg-type]
    assert type(runner) is SchemaExtensionsRunner


def test_with_all_every_schema_override_is_in_place() -> None:
    from subgraph.overrides.entity_batches import BatchedEntitiesSchema
    from subgraph.overrides.executor import LeafFastExecutionContext
    from subgraph.overrides.extension_hooks import HookRunner, HookRunnerSchema

    schema = build_schema(Settings(library_overrides="all"))
    assert schema.execution_context_class is LeafFastExecutionContext
    assert isinstance(schema, HookRunnerSchema)
    assert isinstance(schema, BatchedEntitiesSchema)
    assert type(schema.create_extensions_runner(None, [])) is HookRunner  # type: ignore[arg-type]


def test_the_sdl_is_the_same_with_and_without_overrides() -> None:
    on = build_schema(Settings(library_overrides="all")).sdl
    off = build_schema(Settings(library_overrides="none")).sdl
    assert on == off


def test_with_none_no_override_module_is_even_imported() -> None:
    """The app and the server module, loaded in a fresh interpreter with every override off."""
    code = (
        "import sys\n"
        "from subgraph.app import create_app\n"
        "import subgraph.server\n"
        "create_app()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('subgraph.overrides.'))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "LIBRARY_OVERRIDES": "none"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()


def test_every_override_has_a_module_and_a_row_in_the_docs() -> None:
    upgrading = (ROOT / "docs" / "upgrading.md").read_text()
    for name in OVERRIDES:
        assert (ROOT / "subgraph" / "overrides" / f"{name}.py").is_file(), name
        assert f"`{name}`" in upgrading, name
    readme = (ROOT / "README.md").read_text()
    assert "`LIBRARY_OVERRIDES`" in readme

"""A gateway that cannot start fails its tests with its own log, never silently."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.gateway_grafbase import start_grafbase
from tests.federation.gateway_hive import start_hive
from tests.federation.processes import StartFailed, child_env
from tests.support import free_port

SDL = "type Query { a: Int }\n"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another socket holds (bound, not listening: nothing answers on it)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        yield holder.getsockname()[1]


def test_hive_on_a_taken_port_fails_with_its_log(tmp_path: Path, taken_port: int) -> None:
    supergraph = tmp_path / "supergraph.graphql"
    supergraph.write_text(SDL, encoding="utf-8")
    with pytest.raises(StartFailed) as failed:
        start_hive(supergraph=supergraph, workdir=tmp_path, env=child_env(), port=taken_port)
    assert "hive did not start: exited with" in str(failed.value)
    assert "EADDRINUSE" in str(failed.value)


def test_hive_without_its_supergraph_fails_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(StartFailed) as failed:
        start_hive(supergraph=tmp_path / "missing.graphql", workdir=tmp_path, env=child_env())
    assert "hive did not start: exited with 1" in str(failed.value)
    assert "missing.graphql" in str(failed.value)


def test_grafbase_on_a_taken_port_fails_with_its_log(tmp_path: Path, taken_port: int) -> None:
    subgraphs = {}
    for name in ("users", "products", "orders"):
        (tmp_path / f"{name}.graphql").write_text(
            f"type Query {{ {name}: Int }}\n", encoding="utf-8"
        )
        subgraphs[name] = (tmp_path / f"{name}.graphql", "http://127.0.0.1:9/graphql")
    with pytest.raises(StartFailed) as failed:
        start_grafbase(subgraphs=subgraphs, workdir=tmp_path, env=child_env(), port=taken_port)
    assert "grafbase did not start: exited with 1" in str(failed.value)
    assert "Address in use" in str(failed.value)


def test_grafbase_with_an_unreadable_schema_fails_with_its_log(tmp_path: Path) -> None:
    subgraphs = {
        name: (tmp_path / f"{name}.graphql", "http://127.0.0.1:9/graphql")
        for name in ("users", "products", "orders")
    }
    with pytest.raises(StartFailed) as failed:
        start_grafbase(subgraphs=subgraphs, workdir=tmp_path, env=child_env())
    assert "grafbase did not start: exited with" in str(failed.value)
    assert "could not read the SDL" in str(failed.value)

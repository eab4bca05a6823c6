"""HookRunner enters and leaves extension hooks as Strawberry's own runner does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from subgraph.overrides.extension_hooks import HookRunner

Log = list[str]


class Boom(Exception):
    pass


class Other(Exception):
    pass


def extensions(log: Log) -> list[SchemaExtension]:
    """One extension of each hook kind, logging what they see."""

    class Generator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("gen enter")
            try:
                yield
            except Boom as error:
                log.append(f"gen saw {error}")
                raise
            log.append("gen exit")

    class AsyncGenerator(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("agen enter")
            await asyncio.sleep(0)
            try:
                yield
            except Boom as error:
                log.append(f"agen saw {error}")
                raise
            log.append("agen exit")

    class Function(SchemaExtension):
        def on_operation(self) -> None:
            log.append("function")

    class Coroutine(SchemaExtension):
        async def on_operation(self) -> None:
            log.append("coroutine")

    class Untouched(SchemaExtension):
        pass

    return [Generator(), Function(), AsyncGenerator(), Coroutine(), Untouched()]


def swallowing(log: Log) -> SchemaExtension:
    class Swallow(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            try:
                yield
            except Boom:
                log.append("swallowed")

    return Swallow()


def replacing(log: Log) -> SchemaExtension:
    class Replace(SchemaExtension):
        async def on_validate(self) -> AsyncIterator[None]:
            try:
                yield
            except Boom as error:
                log.append("replaced")
                raise Other("instead") from error

    return Replace()


def failing_on_exit() -> SchemaExtension:
    class FailOnExit(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            yield
            raise Other("on exit")

    return FailOnExit()


Runner = Callable[[list[SchemaExtension]], SchemaExtensionsRunner]
RUNNERS: dict[str, Runner] = {
    "strawberry": lambda exts: SchemaExtensionsRunner(execution_context=None, extensions=exts),  # type: ignore[arg-type]
    "ours": lambda exts: HookRunner(execution_context=None, extensions=exts),  # type: ignore[arg-type]
}


async def outcome(runner: SchemaExtensionsRunner, stage: str, body_raises: bool) -> str:
    try:
        async with getattr(runner, stage)():
            if body_raises:
                raise Boom("body")
    except Exception as error:
        return f"raised {type(error).__name__}: {error}"
    return "completed"


def both(build: Callable[[Log], list[SchemaExtension]], stage: str, body_raises: bool) -> list[Any]:
    """(log, outcome) under Strawberry's runner and under ours."""
    results = []
    for make in RUNNERS.values():
        log: Log = []
        result = asyncio.run(outcome(make(build(log)), stage, body_raises))
        results.append((log, result))
    return results


@pytest.mark.parametrize("body_raises", [False, True])
def test_every_hook_kind_runs_in_order_and_sees_the_error(body_raises: bool) -> None:
    strawberry, ours = both(extensions, "operation", body_raises)
    assert ours == strawberry
    expected_end = ["agen saw body", "gen saw body"] if body_raises else ["agen exit", "gen exit"]
    assert ours[0] == ["gen enter", "function", "agen enter", "coroutine", *expected_end]


def test_a_hook_that_swallows_the_error_does_not_end_it() -> None:
    strawberry, ours = both(lambda log: [swallowing(log)], "parsing", True)
    assert ours == strawberry == (["swallowed"], "raised Boom: body")


def test_a_hook_that_replaces_the_error_raises_its_own() -> None:
    strawberry, ours = both(lambda log: [replacing(log)], "validation", True)
    assert ours == strawberry == (["replaced"], "raised Other: instead")


@pytest.mark.parametrize("body_raises", [False, True])
def test_an_error_raised_on_exit_replaces_the_outcome(body_raises: bool) -> None:
    strawberry, ours = both(lambda log: [failing_on_exit()], "executing", body_raises)
    assert ours == strawberry
    expected = "raised Boom: body" if body_raises else "raised Other: on exit"
    assert ours[1] == expected


def test_outer_hooks_see_what_inner_hooks_made_of_the_error() -> None:
    def build(log: Log) -> list[SchemaExtension]:
        class Outer(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                try:
                    yield
                except Exception as error:
                    log.append(f"outer saw {type(error).__name__}")
                    raise

        class Inner(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                try:
                    yield
                except Boom:
                    raise Other("inner") from None

        return [Outer(), Inner()]

    strawberry, ours = both(build, "operation", True)
    assert ours == strawberry == (["outer saw Other"], "raised Other: inner")


def test_sync_use_refuses_async_hooks_and_runs_sync_ones() -> None:
    log: Log = []
    runner = HookRunner(execution_context=None, extensions=extensions(log))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="failed to complete synchronously"), runner.operation():
        pass
    # Refused before any hook ran (Strawberry's runner would have left the first suspended).
    assert log == []

    sync_log: Log = []
    runner = HookRunner(execution_context=None, extensions=[swallowing(sync_log)])  # type: ignore[arg-type]
    with pytest.raises(Boom), runner.parsing():
        raise Boom("body")
    assert sync_log == ["swallowed"]


def test_a_hook_failing_on_entry_lets_earlier_hooks_see_its_error() -> None:
    log: Log = []

    class Broken(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            raise Boom("on entry")
            yield  # pragma: no cover - makes this a generator

    exts = [*extensions(log)[:1], Broken()]
    runner = HookRunner(execution_context=None, extensions=exts)  # type: ignore[arg-type]
    assert asyncio.run(outcome(runner, "operation", False)) == "raised Boom: on entry"
    assert log == ["gen enter", "gen saw on entry"]


def test_a_generator_hook_must_yield_once() -> None:
    class NoYield(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            return
            yield  # pragma: no cover

    class TwoYields(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield
            yield

    for extension, message in ((NoYield(), "didn't yield"), (TwoYields(), "didn't stop")):
        runner = HookRunner(execution_context=None, extensions=[extension])  # type: ignore[arg-type]
        assert message in asyncio.run(outcome(runner, "operation", False))

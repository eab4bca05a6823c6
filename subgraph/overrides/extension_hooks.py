"""Strawberry's schema-extension hooks, run without rebuilding them on every request.

For each of the four stages of every operation (operation, parse, validate, execute),
Strawberry's runner inspects each extension's hook, wraps it in a fresh
`contextlib.contextmanager` (a `functools.wraps` copy each time) and enters it through an
`ExitStack`. With our one extension that cost 10-15 us a request, for work whose answer
depends only on the extension's class. Here the kind of each hook is worked out once per
class, and a stage drives the hook's generator itself, as Strawberry's stages do: hooks are
left in reverse order, and a hook may replace the exception (swallowing it does not end
it). A hook that fails on entry ends the stage with its error, after the hooks entered
before it have seen that error (Strawberry leaves those suspended).

Measured (docs/upgrading.md, `python -m bench.inprocess`, 7 paired rounds with an A/A
control): turned off, getOrder costs x1.27 the CPU per request (the run's spread 0.93-1.24)
and entities_user_50 x1.17 (spread 0.77-1.15). Kept, narrowly: re-measure on a quiet machine.
Switch: LIBRARY_OVERRIDES name `extension_hooks`; off, Strawberry's SchemaExtensionsRunner
runs.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner


class Kind(enum.Enum):
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"
    FUNCTION = "function"  # called on entry, nothing on exit
    COROUTINE_FUNCTION = "coroutine function"


Hook = tuple[Kind, Callable[[SchemaExtension], Any]]


# Extension classes are few and live as long as the process: no bound is needed.
_HOOKS: dict[tuple[type, str], Hook | None] = {}


def hook_of(extension_class: type, stage: str) -> Hook | None:
    """The class's own hook for `stage` and its kind; None when it keeps the default."""
    key = (extension_class, stage)
    if key not in _HOOKS:
        _HOOKS[key] = _find_hook(extension_class, stage)
    return _HOOKS[key]


def _find_hook(extension_class: type, stage: str) -> Hook | None:
    function = getattr(extension_class, stage)
    if function is getattr(SchemaExtension, stage):
        return None
    if inspect.isgeneratorfunction(function):
        return Kind.GENERATOR, function
    if inspect.isasyncgenfunction(function):
        return Kind.ASYNC_GENERATOR, function
    if inspect.iscoroutinefunction(function):
        return Kind.COROUTINE_FUNCTION, function
    if callable(function):
        return Kind.FUNCTION, function
    raise ValueError(f"Hook {stage} on {extension_class} must be callable, got {function!r}")


class _Stage:
    """One stage's hooks for one operation, usable with `with` and `async with`."""

    __slots__ = ("_entered", "_hooks", "_stage")

    def __init__(self, extensions: list[SchemaExtension], stage: str) -> None:
        self._stage = stage
        self._hooks: list[tuple[Kind, Any, SchemaExtension]] = []
        for extension in extensions:
            hook = hook_of(type(extension), stage)
            if hook is not None:
                self._hooks.append((hook[0], hook[1], extension))
        self._entered: list[tuple[Kind, Any]] = []

    async def __aenter__(self) -> None:
        entered = self._entered = []
        for kind, function, extension in self._hooks:
            try:
                if kind is Kind.GENERATOR:
                    generator = function(extension)
                    _first(next(generator, _STOPPED))
                    entered.append((kind, generator))
                elif kind is Kind.ASYNC_GENERATOR:
                    generator = function(extension)
                    _first(await anext(generator, _STOPPED))
                    entered.append((kind, generator))
                elif kind is Kind.COROUTINE_FUNCTION:
                    await function(extension)
                else:
                    function(extension)
            except BaseException as error:
                # The hooks entered so far see the error; it still ends the stage.
                await self.__aexit__(type(error), error, error.__traceback__)
                raise

    def __enter__(self) -> None:
        for kind, _, extension in self._hooks:
            if kind in (Kind.ASYNC_GENERATOR, Kind.COROUTINE_FUNCTION):
                raise RuntimeError(
                    f"SchemaExtension hook {extension}.{self._stage} "
                    "failed to complete synchronously."
                )
        # With sync hooks only, the async path never suspends: run it to its end here.
        _without_loop(self.__aenter__())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        pending = exc
        while self._entered:
            kind, generator = self._entered.pop()
            try:
                if kind is Kind.GENERATOR:
                    suppressed = _leave(generator, pending)
                else:
                    suppressed = await _leave_async(generator, pending)
            except BaseException as raised:  # noqa: BLE001 - a hook's error of any kind replaces the outcome
                if raised is not pending and pending is not None:
                    raised.__context__ = pending
                pending = raised
                continue
            if suppressed:
                pending = None
        return self._outcome(exc, pending)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return _without_loop(self.__aexit__(exc_type, exc, tb))

    @staticmethod
    def _outcome(exc: BaseException | None, pending: BaseException | None) -> bool:
        """Raise what a hook put in place of `exc`. Never suppress `exc`: Strawberry's stages
        let it through even when a hook swallowed it."""
        if pending is not None and pending is not exc:
            raise pending
        return False


_STOPPED = object()

T = TypeVar("T")


def _without_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (a stage of sync hooks only)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a synchronous extension stage tried to suspend")


def _first(value: object) -> None:
    if value is _STOPPED:
        raise RuntimeError("generator didn't yield")


def _leave(generator: Generator[Any, None, None], exc: BaseException | None) -> bool:
    """Resume a sync hook after its `yield`; True if it swallowed `exc`."""
    if exc is None:
        try:
            next(generator)
        except StopIteration:
            return False
        raise RuntimeError("generator didn't stop")
    try:
        generator.throw(exc)
    except StopIteration as stop:
        return stop is not exc
    except BaseException as raised:
        if raised is exc:
            return False
        raise
    raise RuntimeError("generator didn't stop after throw()")


async def _leave_async(generator: Any, exc: BaseException | None) -> bool:
    """Resume an async hook after its `yield`; True if it swallowed `exc`."""
    if exc is None:
        try:
            await anext(generator)
        except StopAsyncIteration:
            return False
        raise RuntimeError("generator didn't stop")
    try:
        await generator.athrow(exc)
    except StopAsyncIteration as stop:
        return stop is not exc
    except BaseException as raised:
        if raised is exc:
            return False
        raise
    raise RuntimeError("generator didn't stop after athrow()")


class HookRunner(SchemaExtensionsRunner):
    """Strawberry's runner with stages that reuse each extension class's hook analysis."""

    def operation(self) -> Any:
        return _Stage(self.extensions, "on_operation")

    def parsing(self) -> Any:
        return _Stage(self.extensions, "on_parse")

    def validation(self) -> Any:
        return _Stage(self.extensions, "on_validate")

    def executing(self) -> Any:
        return _Stage(self.extensions, "on_execute")


class HookRunnerSchema:
    """Mixed in before the service's schema class when the override is on: the schema builds
    its extensions runner from this class attribute (see `api.schema.OrdersSchema`)."""

    extensions_runner_class = HookRunner

"""In-process commit notices: the unit of work tells listeners that outbox rows were committed.

The live feed of the same process reads them at once instead of at its next poll. Listeners
are plain callables run on the event loop right after the commit; they must not block or raise.
"""

from __future__ import annotations

from collections.abc import Callable

_listeners: list[Callable[[], None]] = []


def add_listener(listener: Callable[[], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def committed() -> None:
    """Called by the unit of work after a commit that wrote outbox rows."""
    for listener in list(_listeners):
        listener()

"""The Litestar controller that serves the schema at /graphql."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Controller
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.response import Response

C = TypeVar("C", bound=type[Controller])


def _new_response() -> Response[Any]:
    return Response({}, background=BackgroundTasks([]))


def without_thread_hop(controller: C) -> C:
    """Strawberry's controller builds each request's (empty) Response object in a worker
    thread (`sync_to_thread=True`); that is no blocking work, and the hop to the thread pool
    and back cost about a tenth of a worker's time under load. Build it on the event loop."""

    dependencies = {
        **(getattr(controller, "dependencies", None) or {}),
        "response": Provide(_new_response, sync_to_thread=False),
    }
    return type(controller.__name__, (controller,), {"dependencies": dependencies})  # type: ignore[return-value]

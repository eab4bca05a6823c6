"""The composition root: `create_app(settings)` wires the adapters into one Litestar app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, get
from litestar.response import Response
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from strawberry.litestar import make_graphql_controller

from subgraph.api.context import Services, make_context_getter
from subgraph.api.controller import tune_controller
from subgraph.api.errors import body_too_large
from subgraph.api.loaders import SharedReads
from subgraph.api.schema import build_schema
from subgraph.auth import TokenVerifier
from subgraph.messaging.http import asyncapi_routes
from subgraph.messaging.runtime import Messaging
from subgraph.persistence.engine import close_pool, open_pool
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.tables import OrderRow
from subgraph.server.garbage_collection import tune_garbage_collection
from subgraph.settings import Settings, get_settings, refuse_unsafe

logger = logging.getLogger("subgraph.app")


@get("/health/live", sync_to_thread=False, include_in_schema=False)
def live() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@get("/health/ready", include_in_schema=False)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, object]]:
    """Ready when the database answers; also reports the broker and the outbox backlog.

    A broker outage does not make the service unready: orders are still accepted and their
    events wait in the outbox.
    """
    try:
        await OrderRow.raw("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        logger.warning("readiness check failed: %s", type(error).__name__)
        return Response(
            {"status": "unavailable", "database": "unreachable"},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    messaging: Messaging | None = request.app.state.get("messaging")
    if messaging is not None:
        body["broker"] = await messaging.state()
        try:
            backlog = await messaging.store.backlog()
        except Exception as error:  # noqa: BLE001 - the report is informative, not a verdict
            logger.warning("outbox backlog unavailable: %s", type(error).__name__)
        else:
            oldest = backlog.oldest_created_at
            body["outbox"] = {
                "unpublished": backlog.unpublished,
                "oldest_age_seconds": (
                    round((datetime.now(UTC) - oldest).total_seconds(), 3) if oldest else None
                ),
            }
    return Response(body, status_code=HTTP_200_OK)


def create_app(settings: Settings | None = None) -> Litestar:
    """The ASGI app. The engine comes from `piccolo_conf` (the same environment as `settings`).

    Raises ConfigurationError for settings that cannot work or that production refuses.
    """
    settings = settings or get_settings()
    refuse_unsafe(settings)
    engine = DB
    services = Services(engine=engine, verifier=TokenVerifier(settings), reads=SharedReads(engine))
    graphql = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        context_getter=make_context_getter(services),
        graphql_ide="graphiql",
        allow_queries_via_get=False,
        subscription_protocols=(),
    )
    graphql = tune_controller(graphql)
    if settings.override("litestar_post"):
        from subgraph.overrides.litestar_post import without_injection

        graphql = without_injection(graphql)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await open_pool(engine, settings)
        # The relay and the inventory consumer run in the background; start-up never waits
        # for RabbitMQ.
        messaging = Messaging(
            settings,
            engine,
            relay=settings.outbox_relay_enabled,
            consume=settings.inventory_consumer_enabled,
        )
        app.state.messaging = messaging
        messaging.start()
        try:
            yield
        finally:
            await messaging.stop()
            await close_pool(engine)

    app = Litestar(
        route_handlers=[graphql, live, ready, *asyncapi_routes(settings)],
        lifespan=[lifespan],
        request_max_body_size=settings.request_max_body_bytes,
        exception_handlers={
            HTTP_413_REQUEST_ENTITY_TOO_LARGE: body_too_large(settings.request_max_body_bytes)
        },
        debug=False,
    )
    tune_garbage_collection()
    return app

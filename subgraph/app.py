"""The composition root: `create_app(settings)` wires the adapters into one Litestar app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from strawberry.litestar import make_graphql_controller

from subgraph.api.context import Services, make_context_getter
from subgraph.api.controller import tune_controller
from subgraph.api.schema import build_schema
from subgraph.auth import TokenVerifier
from subgraph.persistence.engine import close_pool, open_pool
from subgraph.persistence.piccolo_conf import DB
from subgraph.persistence.tables import OrderRow
from subgraph.process import tune_garbage_collection
from subgraph.settings import Settings, get_settings

logger = logging.getLogger("subgraph.app")


@get("/health/live", sync_to_thread=False, include_in_schema=False)
def live() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@get("/health/ready", include_in_schema=False)
async def ready() -> Response[dict[str, object]]:
    """Ready when the database answers."""
    try:
        await OrderRow.raw("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        logger.warning("readiness check failed: %s", type(error).__name__)
        return Response(
            {"status": "unavailable", "database": "unreachable"},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    return Response({"status": "ok", "database": "ok"}, status_code=HTTP_200_OK)


def create_app(settings: Settings | None = None) -> Litestar:
    """The ASGI app. The engine comes from `piccolo_conf` (the same environment as `settings`)."""
    settings = settings or get_settings()
    engine = DB
    services = Services(engine=engine, verifier=TokenVerifier(settings))
    graphql = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        context_getter=make_context_getter(services),
        graphql_ide="graphiql",
        allow_queries_via_get=False,
        subscription_protocols=(),
    )
    graphql = tune_controller(graphql)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await open_pool(engine, settings)
        try:
            yield
        finally:
            await close_pool(engine)

    app = Litestar(
        route_handlers=[graphql, live, ready],
        lifespan=[lifespan],
        request_max_body_size=settings.request_max_body_bytes,
        debug=False,
    )
    tune_garbage_collection()
    return app

"""The composition root: `create_app(settings)` wires the adapters into one Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.status_codes import (
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
)
from strawberry.litestar import make_graphql_controller

from subgraph.api.context import Services, make_context_getter
from subgraph.api.controller import tune_controller
from subgraph.api.errors import body_too_large
from subgraph.api.schema import build_schema
from subgraph.auth.verification import TokenVerifier
from subgraph.health import live, ready
from subgraph.messaging.http import asyncapi_routes
from subgraph.messaging.runtime import Messaging
from subgraph.persistence.availability import Availability, ResilientReads
from subgraph.persistence.engine import close_pool, make_engine
from subgraph.persistence.shared_reads import SharedOrderReads
from subgraph.persistence.startup import open_when_available
from subgraph.persistence.unit_of_work import UnitOfWork
from subgraph.process import tune_garbage_collection
from subgraph.settings import Settings, get_settings, refuse_unsafe

logger = logging.getLogger("subgraph.app")


def create_app(settings: Settings | None = None) -> Litestar:
    """The ASGI app, on the database `settings` name (its own engine: two apps in one process
    may use two databases).

    Raises ConfigurationError for settings that cannot work or that production refuses.
    """
    settings = settings or get_settings()
    refuse_unsafe(settings)
    engine = make_engine(settings)
    availability = Availability(
        engine,
        probe_timeout=settings.health_check_timeout_seconds,
        cache_seconds=settings.health_check_cache_seconds,
    )
    acquire_timeout = settings.db_acquire_timeout_seconds
    services = Services(
        verifier=TokenVerifier(settings),
        reads=ResilientReads(
            SharedOrderReads(engine),
            availability,
            budget_seconds=settings.db_read_retry_budget_seconds,
            attempt_seconds=acquire_timeout + settings.db_statement_timeout_seconds,
        ),
        unit_of_work=lambda: UnitOfWork(engine, acquire_timeout=acquire_timeout),
    )
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
        # Start-up never waits for the database or RabbitMQ: the database is migrated and its
        # pool opened in the background, retried until it answers (readiness says when), and
        # the relay and the inventory consumer start once it has.
        messaging = Messaging(
            settings,
            engine,
            relay=settings.outbox_relay_enabled,
            consume=settings.inventory_consumer_enabled,
        )
        app.state.messaging = messaging
        opening = asyncio.create_task(
            open_when_available(engine, settings, availability, then=messaging.start),
            name="orders-database-startup",
        )
        # When the database is there the first attempt is done before serving (as before);
        # when it is not, serving starts anyway after one connect timeout.
        await asyncio.wait({opening}, timeout=settings.db_connect_timeout_seconds)
        try:
            yield
        finally:
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await opening
            await messaging.stop()
            await close_pool(engine)

    app = Litestar(
        route_handlers=[graphql, live, ready, *asyncapi_routes(settings)],
        lifespan=[lifespan],
        state=State({"engine": engine, "availability": availability}),
        request_max_body_size=settings.request_max_body_bytes,
        exception_handlers={
            HTTP_413_REQUEST_ENTITY_TOO_LARGE: body_too_large(settings.request_max_body_bytes)
        },
        debug=False,
    )
    tune_garbage_collection()
    return app

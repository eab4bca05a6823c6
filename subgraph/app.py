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
from subgraph.api.subscriptions import SUBSCRIPTION_PROTOCOLS, live_controller
from subgraph.auth.verification import TokenVerifier
from subgraph.health import live, ready
from subgraph.live.runtime import LiveUpdates
from subgraph.messaging.http import asyncapi_routes
from subgraph.messaging.runtime import Messaging
from subgraph.persistence.availability import Availability, ResilientReads
from subgraph.persistence.engine import close_pool, is_postgres, make_engine
from subgraph.persistence.outbox_notices import SILENT_OUTBOX_TRIGGER, OutboxNotices
from subgraph.persistence.shared_reads import SharedOrderReads
from subgraph.persistence.startup import open_when_available
from subgraph.persistence.unit_of_work import UnitOfWork
from subgraph.server.garbage_collection import tune_garbage_collection
from subgraph.server.shutdown import on_drain
from subgraph.settings import Settings, get_settings, refuse_unsafe
from subgraph.telemetry import wiring as telemetry

logger = logging.getLogger("subgraph.app")


def create_app(settings: Settings | None = None) -> Litestar:
    """The ASGI app, on the database `settings` name (its own engine: two apps in one process
    may use two databases).

    Raises ConfigurationError for settings that cannot work or that production refuses.
    """
    settings = settings or get_settings()
    refuse_unsafe(settings)
    telemetry.prepare(settings)  # observability: tracing per OTEL_*, one log handler
    # PostgreSQL: this process announces its outbox commits itself, one NOTIFY per burst.
    coalesced = settings.outbox_notify_seconds > 0
    engine = make_engine(settings, server_settings=SILENT_OUTBOX_TRIGGER if coalesced else None)
    notices = (
        OutboxNotices(engine, settings.outbox_notify_seconds)
        if coalesced and is_postgres(engine)
        else None
    )
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
        subscription_protocols=SUBSCRIPTION_PROTOCOLS,
    )
    graphql = tune_controller(graphql)
    if settings.override("litestar_post"):
        from subgraph.overrides.litestar_post import without_injection

        graphql = without_injection(graphql)
    graphql = live_controller(graphql, services, settings)  # issue 17: subscriptions
    live_updates = LiveUpdates(settings, engine)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Start-up never waits for the database or RabbitMQ: the database is migrated and its
        # pool opened in the background, retried until it answers (readiness says when), and
        # the relay and the inventory consumer start once it has.
        sampling = telemetry.start(settings, engine)  # observability: pool gauges
        if notices is not None:
            notices.start()
        messaging = Messaging(
            settings,
            engine,
            relay=settings.outbox_relay_enabled,
            consume=settings.inventory_consumer_enabled,
        )
        app.state.messaging = messaging
        app.state.live = live_updates  # subscriptions are refused until it runs

        # Open subscription streams end when the server starts draining, so it can exit.
        unhook = on_drain(live_updates.hub.close)

        async def once_available() -> None:
            messaging.start()
            await live_updates.start()

        opening = asyncio.create_task(
            open_when_available(engine, settings, availability, then=once_available),
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
            unhook()
            await live_updates.stop()
            await messaging.stop()
            await telemetry.stop(sampling)
            if notices is not None:
                await notices.stop()
            await close_pool(engine)

    app = Litestar(
        route_handlers=[
            graphql,
            live,
            ready,
            *asyncapi_routes(settings),
            *telemetry.route_handlers(settings),  # observability: GET /metrics
        ],
        middleware=telemetry.middleware(),  # observability: the HTTP request's span
        logging_config=None,  # observability: ours (telemetry/logs.py), not Litestar's default
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

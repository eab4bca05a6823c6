"""`/health/live` and `/health/ready`: what an orchestrator or a load balancer asks.

Liveness is the process serving HTTP, nothing else: it stays 200 whatever the database does,
so a database outage never gets the service restarted. Readiness is 200 only when the
database was opened at start-up (migrated, pool open), answers a `SELECT 1` within
HEALTH_CHECK_TIMEOUT_SECONDS (answers reused for HEALTH_CHECK_CACHE_SECONDS), and the process
is not draining for shutdown; else 503. It also reports the broker and the outbox backlog,
which never make the service unready: orders are still accepted and their events wait.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Request, get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from subgraph.messaging.runtime import Messaging
from subgraph.persistence.availability import Availability, answer_within
from subgraph.server.shutdown import draining

logger = logging.getLogger("subgraph.app")

# The backlog is a report, not a verdict: it must not hold back a readiness answer.
BACKLOG_TIMEOUT = 0.25


@get("/health/live", sync_to_thread=False, include_in_schema=False)
def live() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


def _unready(reason: str, database: str) -> Response[dict[str, object]]:
    return Response(
        {"status": "unavailable", "reason": reason, "database": database},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={"cache-control": "no-store"},
    )


@get("/health/ready", include_in_schema=False)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, object]]:
    """Ready when started, not draining, and the database answers (see the module)."""
    state = request.app.state
    availability: Availability = state.availability
    if draining():
        return _unready("shutting down", "not checked")
    if not availability.started:
        return _unready("starting: waiting for the database", "unreachable")
    if not await availability.probe():
        return _unready("database unreachable", "unreachable")
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    messaging: Messaging | None = state.get("messaging")
    if messaging is not None:
        body["broker"] = await messaging.state()
        try:
            backlog = await answer_within(BACKLOG_TIMEOUT, messaging.store.backlog())
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
    return Response(body, status_code=HTTP_200_OK, headers={"cache-control": "no-store"})

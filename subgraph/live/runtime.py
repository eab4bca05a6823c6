"""The live updates of one worker: its hub and its outbox feed, started by the app's lifespan."""

from __future__ import annotations

import logging
from typing import Any

from piccolo.engine.base import Engine

from subgraph.live.hub import Hub
from subgraph.live.outbox_feed import FeedOptions, OutboxFeed
from subgraph.settings import Settings

logger = logging.getLogger("subgraph.live")


class LiveUpdates:
    """What the subscription resolvers find at `app.state.live`."""

    def __init__(self, settings: Settings, engine: Engine[Any]) -> None:
        self.settings = settings
        self.hub = Hub(
            queue_size=settings.subscription_queue_size,
            max_subscriptions=settings.subscriptions_per_worker,
        )
        self.feed = OutboxFeed(
            engine,
            self.hub,
            options=FeedOptions(poll_seconds=settings.live_poll_seconds),
            dsn=settings.postgres_dsn,
        )
        self.running = False

    async def start(self) -> None:
        if not self.settings.live_updates_enabled:
            return
        await self.feed.start()
        self.running = True

    async def stop(self) -> None:
        self.running = False
        self.hub.close()
        await self.feed.stop()

"""Floor (a): the HTTP ceiling. A bare ASGI app that reads the request body and answers a fixed
GraphQL-shaped JSON, served as `orders-subgraph serve` serves (`python -m bench.raw_app PORT
WORKERS`)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench.workloads import FIXED_RESPONSE
from subgraph import server

Message = MutableMapping[str, Any]
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(FIXED_RESPONSE)).encode()),
]


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the whole body, as the real app must before it can parse it
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": FIXED_RESPONSE})


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    sys.exit(
        server.run(
            "bench.raw_app:app",
            host="127.0.0.1",
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            **server.SERVER_SETTINGS,
        )
    )

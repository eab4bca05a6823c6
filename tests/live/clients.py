"""Subscription clients for the tests: graphql-transport-ws, graphql-ws and GraphQL over SSE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets

WAIT = 15.0


class WsConnection:
    """One WebSocket connection speaking graphql-transport-ws or the legacy graphql-ws."""

    def __init__(self, socket: Any, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self.closed: asyncio.Future[tuple[int | None, str | None]] = (
            asyncio.get_running_loop().create_future()
        )

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if message.get("type") in ("ka", "ping", "pong"):
                    if message["type"] == "ping":
                        await self.socket.send(json.dumps({"type": "pong"}))
                    continue
                key = message.get("id") or "_"
                self._queues.setdefault(key, asyncio.Queue()).put_nowait(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.socket.close_code, self.socket.close_reason))

    async def receive(self, key: str = "_", seconds: float = WAIT) -> dict[str, Any]:
        queue = self._queues.setdefault(key, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), seconds)

    async def nothing(self, key: str, seconds: float = 1.0) -> None:
        """Fail if a message for `key` arrives within `seconds`."""
        queue = self._queues.setdefault(key, asyncio.Queue())
        try:
            message = await asyncio.wait_for(queue.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def subscribe(
        self, key: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.socket.send(json.dumps({"id": key, "type": kind, "payload": payload}))

    async def stop(self, key: str) -> None:
        kind = "complete" if self.protocol == "graphql-transport-ws" else "stop"
        await self.socket.send(json.dumps({"id": key, "type": kind}))

    async def next_data(self, key: str, seconds: float = WAIT) -> dict[str, Any]:
        """The data of the next event of `key`; fails on anything else."""
        message = await self.receive(key, seconds)
        assert message["type"] in ("next", "data"), message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def ending(self, key: str, seconds: float = WAIT) -> list[dict[str, Any]]:
        """The errors the subscription `key` ends with (then its complete message)."""
        message = await self.receive(key, seconds)
        if message["type"] == "error":  # refused before it ran
            payload = message["payload"]
            return payload if isinstance(payload, list) else [payload]
        assert message["type"] in ("next", "data"), message
        errors: list[dict[str, Any]] = message["payload"]["errors"]
        done = await self.receive(key, seconds)
        assert done["type"] == "complete", done
        return errors


@asynccontextmanager
async def ws_connection(
    url: str,
    *,
    protocol: str = "graphql-transport-ws",
    token: str | None = None,
    header_token: str | None = None,
) -> AsyncIterator[WsConnection]:
    """A connection, acknowledged; the token in connection_init (`token`) or the upgrade
    request's Authorization header (`header_token`)."""
    headers = {"Authorization": f"Bearer {header_token}"} if header_token else {}
    async with websockets.connect(
        url.replace("http://", "ws://"), subprotocols=[protocol], additional_headers=headers
    ) as socket:
        connection = WsConnection(socket, protocol)
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = await connection.receive()
        assert ack["type"] == "connection_ack", ack
        try:
            yield connection
        finally:
            connection._reader.cancel()


class SseStream:
    """One GraphQL-over-SSE subscription (distinct connections mode)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = self._parse()

    async def _parse(self) -> AsyncIterator[tuple[str, str]]:
        event, data = "", ""
        async for line in self.response.aiter_lines():
            if line == "":
                if event:
                    yield event, data
                event, data = "", ""
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()

    async def next(self, seconds: float = WAIT) -> tuple[str, Any]:
        event, data = await asyncio.wait_for(anext(self._events), seconds)
        return event, json.loads(data) if data else None


@asynccontextmanager
async def sse_subscription(
    url: str, query: str, *, token: str | None, variables: dict[str, Any] | None = None
) -> AsyncIterator[SseStream]:
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT, read=None)) as client,
        client.stream(
            "POST", url, json={"query": query, "variables": variables or {}}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseStream(response)

"""Bench cells for live updates (issue 17): commit -> client latency with 1,000 subscriptions.

    DATABASE_URL=postgresql://... [RABBITMQ_URL=amqp://...] python -m bench.subscriptions

On an already migrated, dedicated database: starts `orders-subgraph serve --workers 2`, then

1. placeOrder flat out for `--seconds` with no subscriber: the measured maximum;
2. opens 1,000 subscriptions (`orderUpdated(id)` of 990 orders placed for the purpose, and 10
   `ordersUpdated(productId: "probe")`) over 50 WebSocket connections;
3. placeOrder flat out again, now with the subscribers: the share of (1) it keeps;
4. twice: placeOrder at half of (1) while probes update the followed orders (and place
   "probe" orders); each probe's latency is from sending its mutation (so commit + the
   request) to its event reaching the client; RSS of each worker after each run.

Not a timed test: figures go to docs/subscriptions.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

from bench.cpu import rss_mb
from bench.server import serve, server_env


def _token() -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": "bench", "roles": ["admin"], "iat": now, "exp": now + 3600}
    return jwt.encode(claims, os.environ["JWT_SECRET_KEY"], algorithm="HS256")


PLACE = 'mutation { placeOrder(userId: "%s", productId: "%s", quantity: 1) { order { id } } }'


async def _place(client: httpx.AsyncClient, url: str, user: str, product: str) -> str:
    body = (await client.post(url, json={"query": PLACE % (user, product)})).json()
    return str(body["data"]["placeOrder"]["order"]["id"])


async def _flat_out(url: str, headers: dict[str, str], seconds: float, workers: int = 64) -> float:
    """placeOrder requests per second, `workers` in flight."""
    done = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=workers)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def loop(i: int) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await _place(client, url, str(i % 200 + 1), "load")
                done += 1

        await asyncio.gather(*(loop(i) for i in range(workers)))
    return done / seconds


async def _paced(url: str, headers: dict[str, str], rate: float, seconds: float) -> float:
    """placeOrder at `rate` per second (open loop); the rate achieved."""
    done = 0
    started = time.monotonic()
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        tasks = []

        async def one(i: int) -> None:
            nonlocal done
            await _place(client, url, str(i % 200 + 1), "load")
            done += 1

        i = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while i < due:
                tasks.append(asyncio.ensure_future(one(i)))
                i += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    return done / seconds


class Subscribers:
    """1,000 subscriptions over 50 connections; arrival times of each probe's events."""

    def __init__(self, url: str, token: str, order_ids: list[str]) -> None:
        self.url = url.replace("http://", "ws://")
        self.token = token
        self.order_ids = order_ids
        self.arrivals: dict[str, float] = {}  # "<order id>:<status>" -> first arrival
        self.events = 0
        self.errors: list[Any] = []
        self._sockets: list[Any] = []
        self._readers: list[asyncio.Task[None]] = []

    async def open(self, connections: int = 50, wide: int = 10) -> None:
        queries: list[dict[str, Any]] = [
            {
                "query": "subscription ($id: ID!) { orderUpdated(id: $id) { id status } }",
                "variables": {"id": i},
            }
            for i in self.order_ids
        ]
        queries += [
            {"query": 'subscription { ordersUpdated(productId: "probe") { id status } }'}
        ] * wide
        per = -(-len(queries) // connections)
        for c in range(connections):
            socket = await websockets.connect(
                self.url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None
            )
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            await socket.send(json.dumps(init))
            await socket.recv()
            for n, payload in enumerate(queries[c * per : (c + 1) * per]):
                await socket.send(
                    json.dumps({"id": str(n), "type": "subscribe", "payload": payload})
                )
            self._sockets.append(socket)
            self._readers.append(asyncio.create_task(self._read(socket)))

    async def _read(self, socket: Any) -> None:
        async for raw in socket:
            message = json.loads(raw)
            if message.get("type") != "next":
                if message.get("type") in ("error", "complete"):
                    self.errors.append(message)
                continue
            now = time.monotonic()
            payload = message["payload"]
            if "errors" in payload:
                self.errors.append(payload)
                continue
            order = next(iter(payload["data"].values()))
            self.events += 1
            self.arrivals.setdefault(f"{order['id']}:{order['status']}", now)

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for socket in self._sockets:
            await socket.close()


async def _probes(
    url: str, headers: dict[str, str], subscribers: Subscribers, seconds: float, rate: float
) -> list[float]:
    """Updates of followed orders (CONFIRMED) and new "probe" orders (PENDING); latencies, ms."""
    sent: dict[str, float] = {}
    pending = list(subscribers.order_ids)
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline and pending:
            order_id = pending.pop()
            start = time.monotonic()
            if n % 2:
                placed = await _place(client, url, "1", "probe")
                sent[f"{placed}:PENDING"] = start
            else:
                query = (
                    f'mutation {{ updateOrder(id: {order_id}, status: "CONFIRMED") {{ success }} }}'
                )
                await client.post(url, json={"query": query})
                sent[f"{order_id}:CONFIRMED"] = start
            n += 1
            await asyncio.sleep(1 / rate)
    await asyncio.sleep(2)
    return [
        (subscribers.arrivals[k] - t) * 1000 for k, t in sent.items() if k in subscribers.arrivals
    ]


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 1)


async def main(seconds: float) -> dict[str, Any]:
    from bench.server import Server

    token = _token()
    headers = {"Authorization": f"Bearer {token}"}
    env, port = server_env({"LOG_LEVEL": "WARNING", "SUBSCRIPTIONS_PER_CONNECTION": "100"})
    command = [sys.executable, "-m", "subgraph.cli", "serve", "--port", str(port)]
    command += ["--workers", "2", "--no-migrate"]
    result: dict[str, Any] = {"seconds": seconds}
    with serve(command, env, "/health/ready", _log(), 2) as server:
        server_: Server = server
        url = server_.url + "/graphql"
        result["max_place_per_s_without"] = round(await _flat_out(url, headers, seconds), 1)
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            followed = [await _place(client, url, "1", "followed") for _ in range(990)]
        subscribers = Subscribers(url, token, followed)
        await subscribers.open()
        await asyncio.sleep(2)
        result["max_place_per_s_with_1000"] = round(await _flat_out(url, headers, seconds), 1)
        result["kept_share"] = round(
            result["max_place_per_s_with_1000"] / result["max_place_per_s_without"], 3
        )
        half = result["max_place_per_s_without"] / 2
        for run in (1, 2):
            load = asyncio.ensure_future(_paced(url, headers, half, seconds))
            latencies = await _probes(url, headers, subscribers, seconds, rate=20)
            achieved = await load
            result[f"run{run}"] = {
                "place_rate_target": round(half, 1),
                "place_rate_achieved": round(achieved, 1),
                "probes": len(latencies),
                "p50_ms": _pct(latencies, 50),
                "p99_ms": _pct(latencies, 99),
                "max_ms": _pct(latencies, 100),
                "worker_rss_mb": rss_mb(server_.workers()),
            }
        result["events_received"] = subscribers.events
        result["subscription_errors"] = subscribers.errors[:3]
        await subscribers.close()
    return result


def _log() -> Any:
    from pathlib import Path

    path = Path("bench/results/subscriptions-service.log")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.subscriptions")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.seconds)), indent=2))

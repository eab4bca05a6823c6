"""The fault-test tools against real things: our own PostgreSQL, real sockets, a real server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from bench.cluster import ClusterError, OwnedPostgres, port_accepts
from tests.faults.load import LoadGenerator, run_load
from tests.faults.proxy import TcpProxy
from tests.federation.processes import Server
from tests.support import ADMIN

QUERY = "query Ping { ping }"
ORDERS = "query Orders { getOrders { id } }"

# How asyncpg reports a connection whose server went away. After a postmaster SIGKILL the
# backend's "FATAL: terminating connection due to unexpected postmaster exit" can arrive while
# the connection is idle, and the next query then fails with InternalClientError ("cannot
# switch to state ...; another operation is in progress"), not ConnectionDoesNotExistError.
CONNECTION_LOST = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)

# -- the owned cluster ---------------------------------------------------------------------


async def test_owned_cluster_serves_its_own_port(
    owned_postgres: OwnedPostgres, owned_database: str
) -> None:
    connection = await asyncpg.connect(owned_database, timeout=5)
    try:
        port = await connection.fetchval("SELECT current_setting('port')")
        version = await connection.fetchval("SHOW server_version_num")
    finally:
        await connection.close()
    assert int(port) == owned_postgres.port != 5432
    assert int(version) >= 150000


async def test_kill_fails_connections_and_start_brings_the_data_back(
    owned_postgres: OwnedPostgres, owned_database: str
) -> None:
    connection = await asyncpg.connect(owned_database, timeout=5)
    await connection.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
    await connection.execute("INSERT INTO kept VALUES (1, 'before the kill'), (2, 'also')")
    first_pid = owned_postgres.pid

    await owned_postgres.akill()

    assert not owned_postgres.running
    assert not port_accepts(owned_postgres.port)
    with pytest.raises(CONNECTION_LOST):
        await connection.fetchval("SELECT 1", timeout=2)
    connection.terminate()
    with pytest.raises(OSError):
        await asyncpg.connect(owned_database, timeout=2)

    await owned_postgres.astart()

    assert owned_postgres.running
    assert owned_postgres.pid != first_pid
    assert "automatic recovery in progress" in owned_postgres.log_tail(), owned_postgres.log_tail()
    connection = await asyncpg.connect(owned_database, timeout=5)
    try:
        rows = await connection.fetch("SELECT id, note FROM kept ORDER BY id")
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [(1, "before the kill"), (2, "also")]


async def test_immediate_stop_and_restart(
    owned_postgres: OwnedPostgres, owned_database: str
) -> None:
    await owned_postgres.astop("immediate")
    assert not owned_postgres.running
    assert not port_accepts(owned_postgres.port)
    await owned_postgres.arestart()  # from stopped: just a start, on the same port
    connection = await asyncpg.connect(owned_database, timeout=5)
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()


def test_a_failed_start_carries_the_server_log(owned_postgres: OwnedPostgres) -> None:
    owned_postgres.stop()
    with socket.socket() as squatter:  # someone else took the port meanwhile
        # (SO_REUSEADDR: our own connections to the port may still be in TIME_WAIT)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", owned_postgres.port))
        squatter.listen()
        with pytest.raises(ClusterError, match="Address already in use") as failure:
            owned_postgres.start(timeout=10)
    assert str(owned_postgres.log_path) in str(failure.value)
    assert not owned_postgres.running
    owned_postgres.start()
    assert port_accepts(owned_postgres.port)


# -- the proxy -----------------------------------------------------------------------------


async def test_proxy_relays_then_silence_times_out_and_forward_heals(
    owned_postgres: OwnedPostgres, owned_database: str, pg_proxy: TcpProxy
) -> None:
    through = owned_database.replace(f":{owned_postgres.port}/", f":{pg_proxy.port}/")
    connection = await asyncpg.connect(through, timeout=5)
    assert await connection.fetchval("SELECT 41 + 1") == 42
    assert pg_proxy.connections == 1

    pg_proxy.silence()
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await connection.fetchval("SELECT 1", timeout=1)
    waited = time.monotonic() - began
    assert waited >= 0.9, f"failed after {waited:.2f} s: an error, not a partition"
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncpg.connect(through, timeout=0.5)
    assert time.monotonic() - began >= 0.45
    assert pg_proxy.connections >= 2  # held open, not refused, not closed
    connection.terminate()

    pg_proxy.forward()
    healed = await asyncpg.connect(through, timeout=5)
    try:
        assert await healed.fetchval("SELECT 2") == 2
    finally:
        await healed.close()


async def test_proxy_reset_breaks_open_connections_at_once(
    owned_postgres: OwnedPostgres, owned_database: str, pg_proxy: TcpProxy
) -> None:
    through = owned_postgres.dsn(owned_database.rsplit("/", 1)[1], port=pg_proxy.port)
    connection = await asyncpg.connect(through, timeout=5)
    assert await connection.fetchval("SELECT 1") == 1

    assert pg_proxy.reset() == 1
    began = time.monotonic()
    with pytest.raises(CONNECTION_LOST):
        await connection.fetchval("SELECT 1", timeout=5)
    assert time.monotonic() - began < 1.0
    connection.terminate()
    pg_proxy.wait_for_connections(lambda open_now: open_now == 0)

    again = await asyncpg.connect(through, timeout=5)
    try:
        assert await again.fetchval("SELECT 3") == 3
        assert pg_proxy.connections == 1
    finally:
        await again.close()


async def test_proxy_to_a_killed_database_resets_the_client(
    owned_postgres: OwnedPostgres, owned_database: str, pg_proxy: TcpProxy
) -> None:
    through = owned_postgres.dsn(owned_database.rsplit("/", 1)[1], port=pg_proxy.port)
    await owned_postgres.akill()
    began = time.monotonic()
    with pytest.raises(CONNECTION_LOST):
        await asyncpg.connect(through, timeout=5)
    assert time.monotonic() - began < 1.0
    await owned_postgres.astart()
    connection = await asyncpg.connect(through, timeout=5)
    await connection.close()


# -- all together: a served app, its database behind the proxy, a load ---------------------


async def test_the_served_app_goes_through_the_proxy_and_comes_back_after_a_kill(
    served_app: Server, owned_postgres: OwnedPostgres, pg_proxy: TcpProxy
) -> None:
    before = await run_load(served_app.url, ORDERS, headers=ADMIN, requests=40)
    assert before.ok == 40, before.summary()
    assert pg_proxy.accepted >= 1  # the app's pool reached the database through the proxy

    await owned_postgres.akill()
    await owned_postgres.astart()

    async with LoadGenerator(served_app.url, ORDERS, headers=ADMIN) as load:
        await load.wait_until(lambda so_far: so_far.ok >= 20, within=15)
    report = await load.stop()
    assert report.ok >= 20, report.summary()


# -- the load generator --------------------------------------------------------------------

Respond = Callable[[int, dict[str, str]], tuple[int, object] | None]


class TinyServer:
    """HTTP/1.1 with keep-alive on asyncio; ``respond(n, headers)`` answers the n-th request
    (from 1) with (status, JSON body), or with None to hang up without answering."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests = 0
        self.connections = 0
        self.headers: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                self.headers.append(headers)
                answer = self.respond(self.requests, headers)
                if answer is None:
                    return
                status, body = answer
                payload = json.dumps(body).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def tiny_server(respond: Respond) -> AsyncIterator[tuple[TinyServer, str]]:
    server = TinyServer(respond)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/graphql"
    finally:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), 5)


def every_third_fails(n: int, headers: dict[str, str]) -> tuple[int, object]:
    if n % 3 == 0:
        return 500, {"errors": [{"message": "down", "extensions": {"code": "INTERNAL"}}]}
    if n % 5 == 0:
        return 200, {"data": None, "errors": [{"message": "no", "extensions": {"code": "BOOM"}}]}
    if n % 7 == 0:
        return 200, {"data": None, "errors": [{"message": "no code"}]}
    return 200, {"data": {"ping": "pong"}}


async def test_load_counts_statuses_and_graphql_codes() -> None:
    async with tiny_server(every_third_fails) as (server, url):
        report = await run_load(
            url, QUERY, headers={"Authorization": "Bearer t"}, concurrency=4, requests=105
        )
    # Of 1..105: 35 multiples of 3; of 5 but not 3, 14; of 7 but neither, 8; the rest 48.
    assert report.total == server.requests == 105, report.summary()
    assert report.outcomes == {
        "http:500": 35,
        "graphql:BOOM": 14,
        "graphql:NO_CODE": 8,
        "ok": 48,
    }, report.summary()
    assert report.statuses == {500: 35, 200: 70}
    assert report.error_codes == {"INTERNAL": 35, "BOOM": 14, "NO_CODE": 8}
    assert report.ok == 48 and report.failed == 57
    assert server.connections <= 4  # keep-alive: a connection per client, reused
    assert all(h["authorization"] == "Bearer t" for h in server.headers)


async def test_load_counts_transport_failures() -> None:
    def hang_up_on_every_fourth(n: int, headers: dict[str, str]) -> tuple[int, object] | None:
        return None if n % 4 == 0 else (200, {"data": {"ping": "pong"}})

    async with tiny_server(hang_up_on_every_fourth) as (_, url):
        closed = await run_load(url, QUERY, concurrency=2, requests=20)
    assert closed.outcomes == {"ok": 15, "transport:closed": 5}, closed.summary()

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    refused = await run_load(f"http://127.0.0.1:{nobody}/graphql", QUERY, requests=6)
    assert refused.outcomes == {"transport:connect": 6}, refused.summary()

    async with tiny_server(every_third_fails) as (server, url):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with TcpProxy(port) as proxy:
            proxy.silence()
            began = time.monotonic()
            silent = await run_load(
                f"http://127.0.0.1:{proxy.port}/graphql",
                QUERY,
                concurrency=2,
                requests=4,
                request_timeout=0.3,
            )
    assert silent.outcomes == {"transport:timeout": 4}, silent.summary()
    assert 0.55 < time.monotonic() - began < 5
    assert server.requests == 0


async def test_load_runs_for_a_duration_and_stops_by_itself() -> None:
    async with tiny_server(lambda n, headers: (200, {"data": {"ping": "pong"}})) as (_, url):
        began = time.monotonic()
        report = await run_load(url, QUERY, concurrency=3, duration=0.4)
        took = time.monotonic() - began
        assert 0.4 <= took < 2.0
        assert report.total > 10 and report.ok == report.total, report.summary()
        assert report.between(report.started, report.started + 0.2).total < report.total

        async with LoadGenerator(url, QUERY, concurrency=2) as load:  # until stopped
            await load.wait_until(lambda so_far: so_far.ok >= 20)
        assert load.snapshot().ok >= 20
        assert not load.running

"""Real processes: a server killed between commit and publish, the `relay` command, SQLite.

The server and the relay run as `orders-subgraph` subprocesses against this run's database and
vhost; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.messaging import support
from tests.messaging.conftest import WAIT, EventTap, eventually
from tests.support import bearer, child_processes, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

CLI = str(Path(sys.executable).parent / "orders-subgraph")
PLACE = """
mutation ($user: ID!) {
  placeOrder(userId: $user, productId: "p1", quantity: 1) { success order { id } }
}
"""


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RABBITMQ_URL"}
    env.update(
        OUTBOX_POLL_SECONDS="0.2",
        OUTBOX_RETRY_BASE_SECONDS="0.1",
        OUTBOX_RETRY_MAX_SECONDS="0.5",
        LOG_LEVEL="WARNING",
    )
    env.update(values)
    return env


@contextmanager
def _process(
    args: list[str], env: dict[str, str], cwd: Path | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the CLI; its stderr goes to `log` when given."""
    with open(log or os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [CLI, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)


async def _serve_and_place(port: int, users: list[str]) -> list[str]:
    """Wait for the server on `port`, place one order per user; the new order ids."""
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:

        async def up() -> bool:
            try:
                return (await client.get("/health/live")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, interval=0.2)
        ids = []
        for user in users:
            response = await client.post(
                "/graphql",
                json={"query": PLACE, "variables": {"user": user}},
                headers=bearer(user),
            )
            payload = response.json()["data"]["placeOrder"]
            assert payload["success"] is True
            ids.append(payload["order"]["id"])
        return ids


async def test_events_committed_by_a_killed_server_are_published_by_the_relay_command(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    port = free_port()
    # The server's own relay is off: its events are committed but never published.
    server_env = _env(
        RABBITMQ_URL=rabbit_vhost, OUTBOX_RELAY_ENABLED="false", INVENTORY_CONSUMER_ENABLED="false"
    )
    with _process(["serve", "--port", str(port), "--no-migrate"], server_env) as server:
        ids = await _serve_and_place(port, ["u1", "u2", "u3"])
        server.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.wait, WAIT)
    assert await support.unpublished() == 3
    assert tap.received == []

    with _process(["relay", "--no-consume"], _env(RABBITMQ_URL=rabbit_vhost)) as relay:
        received = await tap.wait_for(3)
        await eventually(lambda: _nothing_unpublished())
        relay.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(relay.wait, WAIT) == 0

    assert sorted(m.correlation_id or "" for m in received) == sorted(ids)
    assert {m.routing_key for m in received} == {"order.placed"}


async def _nothing_unpublished() -> bool:
    return await support.unpublished() == 0


def test_the_relay_command_refuses_to_start_without_a_broker_url() -> None:
    result = subprocess.run(
        [CLI, "relay"], env=_env(), capture_output=True, timeout=WAIT, check=False
    )
    assert result.returncode == 2
    assert b"RABBITMQ_URL is not set" in result.stderr


async def test_a_single_relay_polls_the_sqlite_outbox_beside_the_server(
    rabbit_vhost: str, tap: EventTap, tmp_path: Path
) -> None:
    env = _env(DATABASE_URL=f"sqlite:///{tmp_path / 'orders.sqlite3'}", RABBITMQ_URL=rabbit_vhost)
    migrated = await asyncio.to_thread(
        subprocess.run, [CLI, "migrate"], env=env, capture_output=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    port = free_port()
    with _process(["serve", "--port", str(port), "--no-migrate"], env):
        ids = await _serve_and_place(port, ["u1", "u2"])
        received = await tap.wait_for(2)
    assert sorted(m.correlation_id or "" for m in received) == sorted(ids)


async def test_on_sqlite_events_nobody_can_receive_wait_for_a_queue_without_retries_one_by_one(
    rabbit_vhost: str, tmp_path: Path
) -> None:
    database = tmp_path / "orders.sqlite3"
    env = _env(DATABASE_URL=f"sqlite:///{database}", RABBITMQ_URL=rabbit_vhost)
    migrated = await asyncio.to_thread(
        subprocess.run, [CLI, "migrate"], env=env, capture_output=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    port, log = free_port(), tmp_path / "serve.log"
    with _process(["serve", "--port", str(port), "--no-migrate"], env, log=log):
        ids = await _serve_and_place(port, ["u1", "u2", "u3"])  # no queue is bound yet
        await eventually(lambda: _async(_sqlite_attempts(database) >= 5))  # 3 tries, 2 probes
        before = _sqlite_attempts(database)
        await asyncio.sleep(1.0)  # one by one, at the 0.5 s cap, this was 6 retries
        assert _sqlite_attempts(database) - before <= 3
        async with EventTap(rabbit_vhost) as tap:
            received = await tap.wait_until(lambda got: len(got) >= 3)
    assert sorted(m.correlation_id or "" for m in received) == sorted(ids)
    logged = log.read_text()
    assert "no queue is bound for order.placed" in logged
    assert "round failed" not in logged  # the claims that skip a held key ran on SQLite


def _sqlite_attempts(database: Path) -> int:
    with closing(sqlite3.connect(database)) as connection:
        return int(connection.execute("SELECT SUM(attempts) FROM order_outbox").fetchone()[0])


def _messaging_children(parent: int) -> list[int]:
    """Pids of `serve`'s messaging processes (children of `parent` running the relay)."""
    return [
        pid
        for pid, command in child_processes(parent)
        if b"subgraph.cli" in command and b"relay" in command
    ]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "State:\tZ" in state  # a zombie has exited; only its parent has not reaped it


async def test_serve_relays_from_one_process_of_its_own_and_restarts_it_when_it_dies(
    outbox_db: str, rabbit_vhost: str, tap: EventTap
) -> None:
    port = free_port()
    env = _env(RABBITMQ_URL=rabbit_vhost)
    args = ["serve", "--port", str(port), "--workers", "2", "--no-migrate"]
    with _process(args, env) as server:
        first = await _serve_and_place(port, ["u1"])
        await tap.wait_for(1)
        relays = _messaging_children(server.pid)
        assert len(relays) == 1  # one relay for the whole server, not one per worker
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = (await client.get("/health/ready")).json()
        assert ready["broker"] == "another process"

        # Killed at any moment, even after the broker confirmed order 1's event but before the
        # outbox row was marked sent: the next relay then publishes it again (at least once).
        os.kill(relays[0], signal.SIGKILL)
        second = await _serve_and_place(port, ["u2"])  # committed while no relay runs
        expected = set(first + second)
        received = await tap.wait_until(lambda got: {m.correlation_id for m in got} >= expected)
        assert {m.correlation_id for m in received} == expected
        message_ids = {
            order: {m.message_id for m in received if m.correlation_id == order}
            for order in expected
        }
        assert all(len(ids) == 1 for ids in message_ids.values())  # a repeat is the same event
        restarted = _messaging_children(server.pid)
        assert len(restarted) == 1
        assert restarted != relays

        server.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, WAIT) == 0
        await eventually(lambda: _async(_gone(restarted[0])), interval=0.2)


STOPPED_WITHIN = 40.0


async def test_a_killed_server_takes_every_process_it_started_with_it(
    outbox_db: str, rabbit_vhost: str
) -> None:
    """SIGKILL gives `serve` no chance to stop anything: its workers once kept serving on the
    port and its relay kept publishing, reparented to PID 1."""
    port = free_port()
    env = _env(RABBITMQ_URL=rabbit_vhost)
    args = ["serve", "--port", str(port), "--workers", "2", "--no-migrate"]
    with _process(args, env) as server:
        await _serve_and_place(port, ["u1"])  # a worker answered, the relay has work
        await eventually(lambda: _async(len(_messaging_children(server.pid)) == 1))
        started = child_processes(server.pid)
        assert len(started) >= 3  # two workers and the messaging process (and a tracker)
        server.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.wait, WAIT)
    # Each child runs its own graceful stop on the SIGTERM the kernel sends it: the messaging
    # process's is bounded by a publish round (publish timeout + its grace) and the broker's
    # close (publish timeout), 25 s with the default settings.
    try:
        await eventually(
            lambda: _async(all(_gone(pid) for pid, _ in started)),
            seconds=STOPPED_WITHIN,
            interval=0.2,
        )
    except TimeoutError:
        left = [(pid, command) for pid, command in started if not _gone(pid)]
        pytest.fail(f"still running {STOPPED_WITHIN:g} s after serve was killed: {left}")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):  # nobody serves the port any more
            await client.get(f"http://127.0.0.1:{port}/health/live")


async def _async(value: bool) -> bool:
    return value


async def test_an_empty_rabbitmq_url_starts_no_messaging_process_and_says_so_once(
    outbox_db: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(RABBITMQ_URL="", LOG_LEVEL="INFO")
    args = ["serve", "--port", str(port), "--workers", "2", "--no-migrate"]
    with _process(args, env, log=log) as server:
        placed = await _serve_and_place(port, ["u1"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = (await client.get("/health/ready")).json()
        children = child_processes(server.pid)
        server.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait, WAIT) == 0
    assert placed == ["1"]
    assert ready["broker"] == "disabled"
    assert ready["outbox"]["unpublished"] == 1  # the event waits in the outbox
    assert _messaging_children(server.pid) == []
    assert not any(b"relay" in word for _, command in children for word in command)
    text = log.read_text()
    assert text.count("RABBITMQ_URL is not set") == 1, text
    assert "restarting" not in text and "exited with" not in text, text


LINGERING = """\
import threading

# A thread as a library may leave behind: not a daemon, and never told to end (aiosqlite's
# worker of a connection nobody closed is one).
threading.Thread(target=threading.Event().wait, name="lingering", daemon=False).start()
"""


async def test_a_relay_told_to_stop_exits_even_when_a_library_thread_lingers(
    rabbit_vhost: str, tmp_path: Path
) -> None:
    """The interpreter's exit waits for every non-daemon thread: a relay whose work was done
    waited forever, an orphan of its killed `serve` ignoring SIGTERM (found after test runs)."""
    database = tmp_path / "orders.sqlite3"
    env = _env(DATABASE_URL=f"sqlite:///{database}", RABBITMQ_URL=rabbit_vhost, LOG_LEVEL="INFO")
    migrated = await asyncio.to_thread(
        subprocess.run, [CLI, "migrate"], env=env, capture_output=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stderr.decode()
    (tmp_path / "sitecustomize.py").write_text(LINGERING)  # imported at start-up by Python
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    log = tmp_path / "relay.log"
    with _process(["relay"], env, log=log) as relay:
        await eventually(lambda: _async("connected to RabbitMQ" in log.read_text()))
        relay.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(relay.wait, WAIT)
    assert code == 0
    assert "exiting with threads still running: lingering" in log.read_text()


EVENTS = 3000  # several rounds of OUTBOX_BATCH_SIZE: the signal lands in the middle
BATCH = 100


async def test_sigterm_lets_the_relay_finish_its_round_and_mark_what_the_broker_confirmed(
    outbox_db: str, rabbit_vhost: str, tap: EventTap, tmp_path: Path
) -> None:
    await support.query(
        "INSERT INTO order_outbox (event_id, event_type, order_id, payload, created_at, attempts) "
        "SELECT gen_random_uuid()::text, 'order.placed', g, '{}', now(), 0 "
        "FROM generate_series(1, $1::int) AS g",
        EVENTS,
    )
    log = tmp_path / "relay.log"
    env = _env(RABBITMQ_URL=rabbit_vhost, OUTBOX_BATCH_SIZE=str(BATCH), LOG_LEVEL="INFO")
    with _process(["relay", "--no-consume"], env, log=log) as relay:
        await tap.wait_for(BATCH // 2)  # publishing
        relay.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(relay.wait, WAIT)
    seen = await tap.drain()
    rows = await support.query("SELECT event_id, published_at FROM order_outbox")
    marked = {r["event_id"] for r in rows if r["published_at"] is not None}
    seen_ids = [m.message_id for m in seen]
    assert code == 0
    assert 0 < len(marked) < EVENTS, "the signal came in the middle of the backlog"
    # Marked only once the broker confirmed it: every marked event was delivered.
    assert marked <= set(seen_ids)
    # The round in progress finished and was recorded: at most the events of a round that was
    # cut short could have reached the broker unmarked, and the log says none was.
    assert len(set(seen_ids) - marked) <= BATCH
    assert "stopping cut short" not in log.read_text()
    assert len(seen_ids) == len(set(seen_ids))  # nothing went out twice
    # No row is left claimed: a new relay publishes exactly the rest, each once more at most.
    with _process(["relay", "--no-consume"], env) as again:
        everything = await tap.wait_until(
            lambda got: {m.message_id for m in got} >= set(r["event_id"] for r in rows)
        )
        again.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(again.wait, WAIT) == 0
    assert await support.unpublished() == 0
    repeats = len(everything) - len({m.message_id for m in everything})
    assert repeats == len(set(seen_ids) - marked)  # only the unmarked ones, at least once

"""A PostgreSQL cluster of our own: stop it, crash it, SIGKILL it and start it again.

Used by the fault tests (tests/faults) and the bench's soak (bench/soak.py), which both take a
database down; the machine's shared PostgreSQL is never touched. ``OwnedPostgres`` runs
``initdb`` into a temporary folder with the machine's binaries (``pg_config --bindir``) and
serves it on a free port of 127.0.0.1 (and a Unix socket in the same folder). The port, once
chosen, never changes: a served process that was given ``dsn()`` reaches the same cluster after
every restart.

``initdb`` and ``postgres`` refuse to run as root, so as root both run as the user ``postgres``
(``subprocess``'s ``user=``/``group=``, what ``runuser -u postgres`` does) and the folder is
handed to that user; otherwise they run directly. The postmaster is this process's own child
(no ``pg_ctl start``), so a SIGKILLed one is reaped at once and can be started again at once.

Every command is bounded in time, and every failure carries the tail of the server's log. The
blocking methods have ``a``-prefixed twins that run in a thread, for async callers that keep
a load running while the database goes down.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from bench.infra import free_port

StopMode = Literal["smart", "fast", "immediate"]
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}

INITDB_TIMEOUT = 60.0  # seconds; ~1.5 s on an idle machine, much more on 2 busy cores
START_TIMEOUT = 30.0  # covers crash recovery after kill() or stop("immediate")
STOP_TIMEOUT = 30.0
KILL_TIMEOUT = 10.0  # the postmaster's port closing and its backends exiting
RUN_AS = "postgres"  # the user the server runs as when we are root
PORT_ATTEMPTS = 5  # the first start only: a free port can be taken before the server binds it


class ClusterError(RuntimeError):
    """A cluster command failed or overran; the message ends with the server log's tail."""


class BinariesMissing(ClusterError):
    """No usable PostgreSQL binaries (or no ``postgres`` user to run them as root)."""


def find_bindir() -> Path:
    """The directory of ``initdb`` and ``postgres``.

    ``TEST_PG_BINDIR`` wins; else ``pg_config --bindir``. Raises ``BinariesMissing``.
    """
    configured = os.environ.get("TEST_PG_BINDIR")
    if configured:
        bindir = Path(configured)
    else:
        pg_config = shutil.which("pg_config")
        if pg_config is None:
            raise BinariesMissing("pg_config is not on PATH (set TEST_PG_BINDIR to override)")
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise BinariesMissing(f"pg_config --bindir failed: {error}") from error
        bindir = Path(found.stdout.strip())
    missing = [name for name in ("initdb", "postgres") if not (bindir / name).is_file()]
    if missing:
        raise BinariesMissing(f"{', '.join(missing)} not found in {bindir}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            raise BinariesMissing(f"running as root, and there is no user {RUN_AS!r}") from None
    return bindir


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # "pid (comm) S ...": the state follows the last ')' (comm may contain anything).
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _processes_in(directory: Path) -> list[int]:
    """The live pids whose working directory is ``directory`` (Linux /proc; empty elsewhere).

    The postmaster and every backend it forks run in the data directory, so this finds them
    all, even those forked a moment before a kill and reparented since.
    """
    target = str(directory)
    found = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == target and _alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, a zombie, or not ours to read
            continue
    return found


class OwnedPostgres:
    """One throwaway cluster: ``with OwnedPostgres() as pg: ... pg.dsn()``.

    ``start()`` runs ``initdb`` the first time. ``stop(mode)`` sends what ``pg_ctl stop -m
    mode`` sends ("immediate" is PostgreSQL's own crash: no checkpoint, recovery next start);
    ``kill()`` is SIGKILL of the postmaster, waiting until its port refuses connections and its
    backends have exited; ``close()`` stops the server whatever its state and removes the folder.
    """

    def __init__(
        self,
        *,
        settings: Mapping[str, str] | None = None,
        bindir: Path | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self._bindir = bindir
        self._base_dir = base_dir
        # fsync=off: the machine never crashes under a test, only the server, and a killed
        # server's writes are already in the OS page cache, so recovery sees them anyway.
        self._settings = {"fsync": "off", **(settings or {})}
        self._dir: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._user: pwd.struct_passwd | None = None  # whom to run as, when we are root

    # -- what a test reads ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise ClusterError("the cluster has not been started yet")
        return self._port

    @property
    def directory(self) -> Path:
        if self._dir is None:
            raise ClusterError("the cluster has not been started yet")
        return self._dir

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def dsn(self, database: str = "postgres", *, port: int | None = None) -> str:
        """A libpq/asyncpg URL for ``database``; ``port`` (a proxy's, say) replaces ours."""
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs, else None."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        return process.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` of the server log, indented, for failure messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except (OSError, ClusterError):
            return "  | (no server log)"
        return "\n".join(f"  | {line}" for line in text[-lines:]) or "  | (empty server log)"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (``initdb`` first if needed); return once it accepts connections."""
        with self._lock:
            if self._dir is None:
                self._init()
            if self.running:
                return
            if self._port is not None:
                self._spawn(self._port, timeout)
                return
            for attempt in range(PORT_ATTEMPTS):
                port = free_port()
                mark = self._log_size()
                try:
                    self._spawn(port, timeout)
                except ClusterError:
                    if (
                        "could not bind" not in self._log_since(mark)
                        or attempt == PORT_ATTEMPTS - 1
                    ):
                        raise
                    continue
                self._port = port
                return

    def stop(self, mode: StopMode = "fast", timeout: float = STOP_TIMEOUT) -> None:
        """PostgreSQL's own shutdown (what ``pg_ctl stop -m mode`` sends); no-op if stopped.

        "smart" waits for the clients to leave, "fast" disconnects them, "immediate" is a crash
        by design: no checkpoint, crash recovery at the next start.
        """
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                self._process = None
                return
            process.send_signal(STOP_SIGNALS[mode])
            self._wait_gone(process, timeout, f"stop({mode!r})")

    def kill(self, timeout: float = KILL_TIMEOUT) -> None:
        """SIGKILL the postmaster; return once its port refuses and its backends are gone.

        The backends notice their postmaster's death by themselves and exit; until they have,
        a new postmaster would refuse to start (their shared memory is still attached).
        """
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None:
                raise ClusterError(f"kill(): the server is not running\n{self.log_tail()}")
            process.kill()
            self._wait_gone(process, timeout, "kill()")

    def restart(self, mode: StopMode = "fast", timeout: float = START_TIMEOUT) -> None:
        """``stop(mode)`` then ``start()``."""
        with self._lock:
            self.stop(mode)
            self.start(timeout)

    def close(self) -> None:
        """Stop the server however it can be stopped, then remove its folder. Idempotent."""
        with self._lock:
            atexit.unregister(self.close)
            if self._dir is None:
                return
            try:
                if self.running:
                    try:
                        self.stop("immediate", timeout=10)
                    except ClusterError:
                        self.kill()
            finally:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    # Async twins: the blocking work runs in a thread, so the test's event loop (and a load
    # generator on it) keeps running while the server goes down or comes back.

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self, mode: StopMode = "fast") -> None:
        await asyncio.to_thread(self.stop, mode)

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def arestart(self, mode: StopMode = "fast") -> None:
        await asyncio.to_thread(self.restart, mode)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<OwnedPostgres {self._dir} port={self._port} {state}>"

    # -- internals -----------------------------------------------------------------------

    def _bin(self, name: str) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir / name

    def _init(self) -> None:
        initdb = self._bin("initdb")  # checks the binaries, and the user when we are root
        if os.geteuid() == 0:
            self._user = pwd.getpwnam(RUN_AS)
        # Not under pytest's tmp_path: its parents are 0700 root, which `postgres` cannot enter,
        # and the Unix socket's path must stay short (107 bytes).
        directory = Path(tempfile.mkdtemp(prefix="owned-pg-", dir=self._base_dir))
        self._dir = directory
        atexit.register(self.close)  # a session that dies between fixtures still cleans up
        if self._user is not None:
            os.chown(directory, self._user.pw_uid, self._user.pw_gid)
        argv = [str(initdb), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres"]
        argv += ["-E", "UTF8", "--locale=C", "-N"]
        try:
            done = subprocess.run(
                argv,
                cwd=directory,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INITDB_TIMEOUT,
                **self._as_user(),
            )
        except subprocess.TimeoutExpired as error:
            raise ClusterError(
                f"initdb: no answer within {INITDB_TIMEOUT:.0f} s\n{error.stderr!s}"
            ) from None
        if done.returncode != 0:
            raise ClusterError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def _spawn(self, port: int, timeout: float) -> None:
        """Run the postmaster as our own child and wait until it says it is ready."""
        argv = [str(self._bin("postgres")), "-D", str(self.data_dir), "-p", str(port)]
        argv += ["-k", str(self.directory), "-c", "listen_addresses=127.0.0.1"]
        for name, value in self._settings.items():
            argv += ["-c", f"{name}={value}"]
        # Our child, not pg_ctl's: after a SIGKILL we reap it at once. An orphan would stay a
        # zombie until init reaps it, and a new postmaster refuses to start while the old pid
        # in postmaster.pid still answers kill(pid, 0).
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=self.directory,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches pytest, which stops us in order
                **self._as_user(),
            )
        self._process = process
        deadline = time.monotonic() + timeout
        while not self._ready(process, port):
            if process.poll() is not None:
                self._process = None
                raise ClusterError(
                    f"postgres on port {port} exited with {process.returncode} while starting\n"
                    f"server log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=KILL_TIMEOUT)
                self._process = None
                raise ClusterError(
                    f"postgres on port {port} was not ready within {timeout:.0f} s\n"
                    f"server log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _ready(self, process: subprocess.Popen[bytes], port: int) -> bool:
        # postmaster.pid: line 1 the pid, line 8 the status, "ready" once it takes connections.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (
            len(lines) >= 8
            and lines[0].strip() == str(process.pid)
            and lines[7].strip() == "ready"
            and port_accepts(port)
        )

    def _wait_gone(self, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
        """Reap the postmaster, then wait until no backend is left and the port refuses."""
        deadline = time.monotonic() + timeout
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"{what}: the postmaster {process.pid} did not exit within {timeout:.0f} s\n"
                f"{self.log_tail()}"
            ) from None
        self._process = None
        while True:
            left = _processes_in(self.data_dir)
            if not left and not (self._port and port_accepts(self._port, timeout=0.2)):
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what}: still running after {timeout:.0f} s: pids {left}\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _as_user(self) -> dict[str, Any]:
        """Popen's arguments that drop root to the ``postgres`` user (initdb and postgres
        refuse to run as root); nothing when we are not root."""
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    @staticmethod
    def _env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

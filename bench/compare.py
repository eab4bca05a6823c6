"""`python -m bench --compare REV`: the build at REV against the working tree's, in alternation.

This machine's speed drifts by up to 2x over hours, so a req/s figure from one run says little
against one from another run. What holds up is a ratio of two builds measured side by side:

- **Builds.** The old build is REV, checked out with `git worktree add --detach` in a temporary
  directory (removed at the end, also on Ctrl-C or an error) and installed into a venv of its
  own. That venv is cached under `~/.cache/orders-bench/<sha>-<deps>/` (or `$BENCH_CACHE_DIR`),
  keyed by the commit and by the working tree venv's installed packages, so a repeated compare
  does not reinstall. It is a regular (not editable) install: the cached copy must not point
  into a worktree that is gone, and a commit's files never change. The old venv is made by the
  same interpreter and installed with the working tree venv's `pip freeze` as constraints, so
  both builds run on the same Python and the same third-party versions; any difference left
  (REV pinning something else) is printed and recorded. The new build is the working tree as
  it is, dirty or not (the output says which), served from the venv running the bench.
- **Each server runs its own code.** Every process of a build (uvicorn's workers, the
  messaging process started with `python -m`) gets that build's tree as its working directory
  and `PYTHONPATH`, so no process of the old build imports the working tree's `subgraph`; a
  check before the first round imports `subgraph` the way the server will and says where from.
- **Data.** One database, migrated by the new build and seeded once, as `python -m bench`
  does. Before that, the old build migrates a scratch database, and the two schemas (columns,
  indexes, constraints) are compared: if they differ, the compare refuses, because the old
  build would run against a schema it was not written for. Before every server start the
  rows the previous session wrote are removed (`infra.forget_floor_writes`: orders above the
  seed, their history, the outbox) and the database is vacuumed and analysed, so every
  session starts from the same data and statistics. Within a session the writes (placeOrder,
  updateOrder) run after the read cells, so no read measures a table that the session's own
  writes made bigger, and getOrder and updateOrder use the seeded id range only.
- **Alternation.** For each round, each build in turn starts `orders-subgraph serve` and runs
  every selected cell (a warm-up, then one measured wrk run), then stops. The first build of
  a round alternates (old-new, new-old, ...), so a steady drift of the machine weighs on both
  builds alike. The request files (and tokens) are made once and sent to both builds.
- **Reading it.** Per cell: old and new req/s and p99 (medians over rounds), errors (summed),
  and the ratio new/old: the median of the per-round ratios (each from two runs seconds
  apart), with their min..max as its spread. Identical builds give ~1.00 with the machine's
  noise as spread; a change is real when its whole spread is off 1.00.
- **The relay, in the write cells.** While a write cell runs (warm-up included) and until its
  outbox has drained, the server's messaging process's CPU time (user + system, from
  /proc/<pid>/stat) over the events it marked published in that window: the relay's CPU per
  published event, per build, with the same per-round ratio. Beside it the commit -> broker
  ack lag p99 of the cell's rows and the largest backlog sampled while it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg

from bench import infra, report
from bench.conditions import conditions
from bench.relay import RelayWatcher, cpu_seconds, messaging_process
from bench.server import serve, server_env
from bench.suite import Config, Run, now

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
OLD, NEW = "old", "new"
WRITE_CELLS = frozenset({"placeOrder", "updateOrder"})
CLI_FILE = "subgraph/cli.py"
# What the bench asks of a build's command line and application.
CLI_NEEDS = ("--no-migrate", "--workers", "--port", '"migrate"')
READY_PATH = "/health/ready"


class CompareError(RuntimeError):
    """A compare that cannot run as asked; the message says why."""


# ---------------------------------------------------------------- pure parts (unit-tested)


def alternation(rounds: int) -> list[tuple[int, str]]:
    """(round, build) in the order they run: old-new, new-old, old-new, ..."""
    order: list[tuple[int, str]] = []
    for r in range(1, rounds + 1):
        pair = (OLD, NEW) if r % 2 else (NEW, OLD)
        order.extend((r, build) for build in pair)
    return order


def session_cells(cells: Sequence[str]) -> list[str]:
    """The cells in the order a session runs them: reads as given, then the writes."""
    return [c for c in cells if c not in WRITE_CELLS] + [c for c in cells if c in WRITE_CELLS]


def ratio_stats(old: Sequence[float], new: Sequence[float]) -> dict[str, Any]:
    """new/old per round, their median and min..max. Rounds where old is 0 give no ratio."""
    if len(old) != len(new):
        raise ValueError(f"{len(old)} old values against {len(new)} new ones")
    per_round = [n / o for o, n in zip(old, new, strict=True) if o]
    if not per_round:
        return {"per_round": [], "median": None, "min": None, "max": None}
    return {
        "per_round": [round(r, 4) for r in per_round],
        "median": round(statistics.median(per_round), 4),
        "min": round(min(per_round), 4),
        "max": round(max(per_round), 4),
    }


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def build_side(reps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One build's runs of one cell (in round order) summed up."""
    return {
        "rps": _median([r["rps"] for r in reps]),
        "p99_ms": _median([r["p99_ms"] for r in reps]),
        "server_cpu_ms_per_request": _median([r.get("server_cpu_ms_per_request") for r in reps]),
        "errors": sum(int(r["errors"]) for r in reps),
        "rps_by_round": [r["rps"] for r in reps],
        "p99_ms_by_round": [r["p99_ms"] for r in reps],
        **_relay_side(reps),
    }


def _relay_side(reps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The relay's figures of a write cell, when the session measured them."""
    relays = [r["relay"] for r in reps if r.get("relay")]
    if not relays:
        return {}
    backlogs = [r["max_backlog"] for r in relays if r.get("max_backlog") is not None]
    return {
        "relay_cpu_ms_per_event": _median([r.get("cpu_ms_per_event") for r in relays]),
        "relay_lag_p99_ms": _median([r.get("lag_p99_ms") for r in relays]),
        "relay_lag_p99_ms_max": max(
            (r["lag_p99_ms"] for r in relays if r.get("lag_p99_ms") is not None), default=None
        ),
        "relay_max_backlog": max(backlogs) if backlogs else None,
        "relay_events": sum(int(r.get("events") or 0) for r in relays),
        "relay_cpu_ms_per_event_by_round": [r.get("cpu_ms_per_event") for r in relays],
    }


def cell_result(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A cell's comparison from each build's per-round runs (dicts with rps, p99_ms, errors)."""
    result: dict[str, Any] = {
        OLD: build_side(old),
        NEW: build_side(new),
        "ratio": ratio_stats([r["rps"] for r in old], [r["rps"] for r in new]),
    }
    cpu_old = [r.get("server_cpu_ms_per_request") for r in old]
    cpu_new = [r.get("server_cpu_ms_per_request") for r in new]
    if all(cpu_old) and all(cpu_new):
        result["cpu_ratio"] = ratio_stats(
            [float(c) for c in cpu_old if c], [float(c) for c in cpu_new if c]
        )
    relay_old = [(r.get("relay") or {}).get("cpu_ms_per_event") for r in old]
    relay_new = [(r.get("relay") or {}).get("cpu_ms_per_event") for r in new]
    if relay_old and all(relay_old) and all(relay_new):
        result["relay_cpu_ratio"] = ratio_stats(
            [float(c) for c in relay_old if c], [float(c) for c in relay_new if c]
        )
    result["errors_flag"] = bool(result[OLD]["errors"] or result[NEW]["errors"])
    return result


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(stats: dict[str, Any] | None) -> str:
    if not stats or stats.get("median") is None:
        return "-"
    return f"{stats['median']:.3f} ({stats['min']:.3f}..{stats['max']:.3f})"


def table(cells: dict[str, dict[str, Any]]) -> str:
    """The Markdown table a compare prints."""
    lines = [
        "| cell | old req/s | new req/s | new/old req/s (min..max) | old p99 ms | new p99 ms "
        "| server CPU/req new/old (min..max) | errors old/new |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, c in cells.items():
        errors = f"{c[OLD]['errors']}/{c[NEW]['errors']}"
        if c["errors_flag"]:
            errors += " **ERRORS**"
        lines.append(
            f"| {name} | {_num(c[OLD]['rps'])} | {_num(c[NEW]['rps'])} | {_ratio(c['ratio'])} "
            f"| {_num(c[OLD]['p99_ms'], 2)} | {_num(c[NEW]['p99_ms'], 2)} "
            f"| {_ratio(c.get('cpu_ratio'))} | {errors} |"
        )
    relayed = {name: c for name, c in cells.items() if "relay_cpu_ms_per_event" in c[NEW]}
    if relayed:
        lines += [
            "",
            "| cell | relay CPU ms/event old | new | new/old (min..max) | relay lag p99 ms "
            "old | new (worst round) | max backlog old | new | events published old/new |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, c in relayed.items():
            o, n = c[OLD], c[NEW]
            lines.append(
                f"| {name} | {_num(o.get('relay_cpu_ms_per_event'), 3)} "
                f"| {_num(n.get('relay_cpu_ms_per_event'), 3)} "
                f"| {_ratio(c.get('relay_cpu_ratio'))} | {_num(o.get('relay_lag_p99_ms'))} "
                f"| {_num(n.get('relay_lag_p99_ms'))} ({_num(n.get('relay_lag_p99_ms_max'))}) "
                f"| {_num(o.get('relay_max_backlog'), 0)} | {_num(n.get('relay_max_backlog'), 0)} "
                f"| {o.get('relay_events', 0)}/{n.get('relay_events', 0)} |"
            )
    return "\n".join(lines) + "\n"


def output_path(results: Path, started: datetime, old_sha: str, new_sha: str, dirty: bool) -> Path:
    stamp = started.strftime("%Y-%m-%dT%H%M%S")
    suffix = "-dirty" if dirty else ""
    return results / f"compare-{stamp}-{old_sha[:7]}-{new_sha[:7]}{suffix}.json"


def validation_errors(
    *,
    rounds: int,
    seconds: float,
    warmup: float,
    workers: int,
    connections: int,
    cells: Sequence[str],
    conflicting: Sequence[str] = (),
) -> list[str]:
    """What is wrong with a compare's arguments (nothing: an empty list)."""
    errors = []
    if rounds < 2:
        errors.append("--rounds must be at least 2: one round gives no spread")
    if seconds <= 0:
        errors.append("--seconds must be positive")
    if warmup < 0:
        errors.append("--warmup must not be negative")
    if workers < 1:
        errors.append("--workers must be at least 1")
    if connections < 1:
        errors.append("--connections must be at least 1")
    if not cells:
        errors.append("--cells: name at least one cell")
    if len(set(cells)) != len(cells):
        errors.append("--cells: a cell is named twice")
    errors.extend(f"{option} does not apply to --compare" for option in conflicting)
    return errors


def schema_differences(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """Lines of one schema signature and not the other, marked `-` (old only) and `+` (new)."""
    only_old, only_new = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    return [f"- {line}" for line in only_old] + [f"+ {line}" for line in only_new]


def cli_missing(cli_source: str) -> list[str]:
    """What the bench needs that a build's subgraph/cli.py does not have."""
    return [need for need in CLI_NEEDS if need not in cli_source]


def freeze_differences(mine: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """`pip freeze` lines that differ between two venvs (the projects themselves aside)."""

    def parse(lines: Sequence[str]) -> dict[str, str]:
        out = {}
        for line in lines:
            if "==" in line and not line.startswith(("-e", "#")):
                name, version = line.split("==", 1)
                out[name.strip().lower().replace("_", "-")] = version.strip()
        out.pop("orders-subgraph", None)
        return out

    a, b = parse(mine), parse(theirs)
    return [
        f"{name}: new {a.get(name, 'absent')}, old {b.get(name, 'absent')}"
        for name in sorted(set(a) | set(b))
        if name in b and a.get(name) != b.get(name)
    ]


# ---------------------------------------------------------------- git, venvs, builds


def _git_run(*args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise CompareError("git is not installed: --compare checks REV out with it")
    return subprocess.run(
        [git, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _git(*args: str, check: bool = True) -> str:
    done = _git_run(*args)
    if check and done.returncode != 0:
        raise CompareError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def resolve(rev: str) -> str:
    """The commit REV names, or a CompareError saying it names none."""
    done = _git_run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        raise CompareError(f"unknown revision {rev!r}: git knows no commit by that name")
    return done.stdout.strip()


def working_tree() -> dict[str, Any]:
    """The working tree's build: HEAD, `git describe --dirty`, and whether it is dirty.

    Dirty: a tracked file changed, or a file git does not track yet in the package (a new
    module serves too). Untracked files elsewhere (a fresh result JSON) do not count.
    """
    sha = _git("rev-parse", "HEAD")
    tracked = bool(_git("status", "--porcelain", "--untracked-files=no"))
    new_modules = bool(_git("ls-files", "--others", "--exclude-standard", "--", "subgraph"))
    dirty = tracked or new_modules
    describe = _git("describe", "--always", "--dirty", "--abbrev=7")
    if dirty and not describe.endswith("-dirty"):
        describe += "-dirty"
    return {"sha": sha, "short": sha[:7], "describe": describe, "dirty": dirty}


def check_cli(sha: str, rev: str) -> None:
    """Refuse a REV whose tree has no `orders-subgraph serve --workers --port --no-migrate`."""
    done = _git_run("show", f"{sha}:{CLI_FILE}")
    if done.returncode != 0:
        raise CompareError(f"{rev} ({sha[:7]}) has no {CLI_FILE}: no bench-compatible CLI")
    missing = cli_missing(done.stdout)
    if missing:
        raise CompareError(
            f"{rev} ({sha[:7]}): its {CLI_FILE} lacks {', '.join(missing)}; the bench needs "
            "`orders-subgraph serve --workers N --port P --no-migrate` and `migrate`"
        )


@contextlib.contextmanager
def worktree(sha: str) -> Iterator[Path]:
    """A detached worktree of `sha` in a temporary directory, removed on the way out."""
    parent = Path(tempfile.mkdtemp(prefix="orders-bench-old-"))
    path = parent / "tree"
    _git("worktree", "add", "--detach", str(path), sha)
    try:
        yield path
    finally:
        _git("worktree", "remove", "--force", str(path), check=False)
        _git("worktree", "prune", check=False)
        shutil.rmtree(parent, ignore_errors=True)


def _freeze(python: str) -> list[str]:
    done = subprocess.run(
        [python, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [x for x in done.stdout.splitlines() if x and not x.startswith("orders-subgraph")]


def cache_root() -> Path:
    base = os.environ.get("BENCH_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "orders-bench"


@dataclass
class Build:
    """One side of the compare: where its code is and how to start it."""

    name: str
    sha: str
    label: str
    root: Path
    python: str
    cli: str
    notes: list[str] = field(default_factory=list)

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with this build's tree first on the import path."""
        return {**base, "PYTHONPATH": str(self.root)}


def old_venv(sha: str, source: Path, log: Any) -> tuple[Path, list[str]]:
    """The cached venv of `sha` (made now if missing); returns it and its freeze's differences."""
    mine = _freeze(sys.executable)
    digest = hashlib.sha256("\n".join(sorted(mine)).encode()).hexdigest()[:8]
    home = cache_root() / f"{sha[:12]}-{digest}"
    venv, ready = home / "venv", home / "ready.json"
    if ready.exists() and (venv / "bin" / "orders-subgraph").exists():
        log(f"old build's venv: cached, {venv}")
    else:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        log(f"old build's venv: creating {venv} (pip install of {sha[:7]}, constrained)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        constraints = home / "constraints.txt"
        constraints.write_text("\n".join(mine) + "\n")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        done = subprocess.run(
            [*pip, "-c", str(constraints), str(source)],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if done.returncode != 0:
            log("constrained install failed (REV pins other versions); installing unconstrained")
            done = subprocess.run(
                [*pip, str(source)], capture_output=True, text=True, timeout=1200, check=False
            )
        if done.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            raise CompareError(f"pip install of {sha[:7]} failed:\n{done.stderr[-3000:]}")
        ready.write_text(json.dumps({"sha": sha, "made": datetime.now(UTC).isoformat()}) + "\n")
    theirs = _freeze(str(venv / "bin" / "python"))
    return venv, freeze_differences(mine, theirs)


def run_in(build: Build, command: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
    """`command` in the build's tree and environment (its `subgraph` first on the path)."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
        cwd=build.root,
        env=build.env(dict(os.environ)),
    )


def check_serve_help(build: Build) -> None:
    """The installed CLI really takes the options the bench passes."""
    done = run_in(build, [build.cli, "serve", "--help"], check=False)
    missing = [o for o in ("--workers", "--port", "--no-migrate") if o not in done.stdout]
    if done.returncode != 0 or missing:
        raise CompareError(
            f"the {build.name} build ({build.label}): `orders-subgraph serve --help` "
            f"{'failed' if done.returncode else 'lacks ' + ', '.join(missing)}: no bench-"
            f"compatible CLI\n{done.stderr[-1000:]}"
        )


def imported_from(build: Build) -> str:
    """Where the build's server processes will import `subgraph` from."""
    where_from = "import subgraph; print(subgraph.__file__)"
    done = run_in(build, [build.python, "-c", where_from], check=True)
    where = Path(done.stdout.strip()).resolve()
    if build.root.resolve() not in where.parents:
        raise CompareError(f"the {build.name} build imports subgraph from {where}, not its tree")
    return str(where)


# ---------------------------------------------------------------- the database


SIGNATURE_SQL = """
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' null=' ||
       is_nullable || ' default=' || coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' ||
       pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
"""


async def schema_signature(dsn: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        return sorted(str(r[0]) for r in await connection.fetch(SIGNATURE_SQL))
    finally:
        await connection.close()


@contextlib.contextmanager
def scratch_database(stack: infra.Stack) -> Iterator[str]:
    """One more database beside the run's (`<name>_old`), dropped on the way out."""
    name = f"{stack.database}_old"
    asyncio.run(infra._admin(f'CREATE DATABASE "{name}"'))
    try:
        yield stack.dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(infra._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate_with(build: Build, env: dict[str, str]) -> None:
    done = subprocess.run(
        [build.cli, "migrate"],
        env=build.env(env),
        cwd=build.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise CompareError(f"the {build.name} build's migrate failed:\n{done.stderr[-2000:]}")


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class CompareArgs:
    rev: str
    cells: tuple[str, ...]
    rounds: int
    seconds: float
    warmup: float
    workers: int
    connections: int
    pool_size: int
    orders_per_user: int
    output: Path | None


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the compare as Ctrl-C does: through every cleanup on the way out
    (server, worktree, databases, vhost). A signal the caller ignores (nohup) stays ignored."""

    def interrupt(signum: int, _: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_compare(args: CompareArgs) -> int:
    with signals_interrupt():
        return _run_compare(args)


def _run_compare(args: CompareArgs) -> int:
    started = datetime.now(UTC)
    at_start = conditions()
    old_sha = resolve(args.rev)
    check_cli(old_sha, args.rev)
    tree = working_tree()
    new_label = str(tree["describe"])
    if not new_label.startswith(tree["short"]):  # a tag's name: say the commit as well
        new_label += f" ({tree['short']})"
    cells = session_cells(args.cells)
    config = Config(
        seconds=args.seconds,
        repeats=1,
        warmup=args.warmup,
        connections=args.connections,
        workers=args.workers,
        pool_size=args.pool_size,
        users=2000,
        orders_per_user=args.orders_per_user,
        rss_requests=0,
        results_dir=RESULTS,
        cells=tuple(cells),
        skip_floors=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="orders-bench-") as tmp,
        worktree(old_sha) as old_root,
        infra.stack() as stack,
    ):
        run = Run(config, stack, Path(tmp))
        log = run.log
        log(f"old: {args.rev} = {old_sha[:7]}; new: the working tree, {new_label}")
        if tree["dirty"]:
            log("the working tree is dirty: 'new' is its uncommitted state")
        venv, freeze_diff = old_venv(old_sha, old_root, log)
        new_python = sys.executable
        builds = {
            OLD: Build(
                OLD,
                old_sha,
                f"{args.rev} {old_sha[:7]}",
                old_root,
                str(venv / "bin" / "python"),
                str(venv / "bin" / "orders-subgraph"),
            ),
            NEW: Build(NEW, tree["sha"], new_label, ROOT, new_python, infra.cli_path()),
        }
        for build in builds.values():
            check_serve_help(build)
            build.notes.append(f"imports subgraph from {imported_from(build)}")
        for line in freeze_diff:
            log(f"WARNING: third-party versions differ: {line}")
        base_env = {**os.environ, **run.service_env()}
        log(f"database {stack.database}, vhost {stack.vhost}; schemas of both builds")
        with scratch_database(stack) as scratch:
            migrate_with(builds[OLD], {**base_env, "DATABASE_URL": scratch})
            old_schema = asyncio.run(schema_signature(scratch))
        migrate_with(builds[NEW], base_env)
        new_schema = asyncio.run(schema_signature(stack.dsn))
        differences = schema_differences(old_schema, new_schema)
        if any(line.startswith("-") for line in differences):
            raise CompareError(
                "the builds' migrations make different schemas, so they cannot serve the same "
                "database; compare against a REV with the same migrations.\n"
                + "\n".join(differences[:40])
            )
        # Only additions (a new nullable column, an index): the old build serves the new
        # schema as it would its own; a statement it cannot run shows up as errors.
        for line in differences:
            log(f"WARNING: the new build's migrations add {line[2:]}")
        log("schemas compatible; seeding")
        top = asyncio.run(
            infra.seed(stack.dsn, users=config.users, orders_per_user=config.orders_per_user)
        )
        run.seed = type(run.seed)(users=config.users, orders=top)
        sessions: list[dict[str, Any]] = []
        for round_no, name in alternation(args.rounds):
            build = builds[name]
            asyncio.run(infra.forget_floor_writes(stack.dsn, top))
            log(f"round {round_no}/{args.rounds}: {name} ({build.label})")
            sessions.append(
                {"round": round_no, "build": name, **_session(run, build, cells, round_no)}
            )
        results = {
            cell: cell_result(
                [s["cells"][cell] for s in sessions if s["build"] == OLD],
                [s["cells"][cell] for s in sessions if s["build"] == NEW],
            )
            for cell in cells
        }
        record: dict[str, Any] = {
            "kind": "compare",
            "date": started.isoformat(timespec="seconds"),
            "old": {"rev": args.rev, "sha": old_sha, "venv": str(venv), "notes": builds[OLD].notes},
            "new": {**tree, "python": new_python, "notes": builds[NEW].notes},
            "third_party_differences": freeze_diff,
            "config": {
                "rounds": args.rounds,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "workers": args.workers,
                "connections": args.connections,
                "pool_size": args.pool_size,
                "users": config.users,
                "orders_per_user": config.orders_per_user,
                "cells": cells,
            },
            "conditions": at_start,
            "order": [f"{r}:{b}" for r, b in alternation(args.rounds)],
            "cells": results,
            "sessions": sessions,
            "duration_s": round(time.time() - started.timestamp()),
            "load_average_at_end": list(os.getloadavg()),
        }
        text = table(results)
        record["table"] = text
        output = args.output or output_path(
            RESULTS, started, old_sha, tree["sha"], bool(tree["dirty"])
        )
        report.write_json(output, record)
    print(f"old: {args.rev} {old_sha[:7]}    new: working tree {new_label}")
    print(
        f"{args.rounds} rounds, alternating; per cell {args.warmup:g} s warm-up + "
        f"{args.seconds:g} s; medians over rounds; ratio = median of per-round new/old"
    )
    print(text)
    flagged = [c for c, r in results.items() if r["errors_flag"]]
    if flagged:
        print(f"WARNING: errors in {', '.join(flagged)}: those ratios mean little")
    for line in freeze_diff:
        print(f"WARNING: third-party versions differ: {line}")
    print(f"written: {output}")
    return 1 if flagged else 0


def _session(run: Run, build: Build, cells: Sequence[str], round_no: int) -> dict[str, Any]:
    """Serve `build`, run every cell once (warm-up, then one measured run), stop."""
    c = run.config
    env, port = server_env(run.service_env())
    env = build.env(env)
    command = [build.cli, "serve", "--workers", str(c.workers), "--port", str(port)]
    command.append("--no-migrate")
    log = run.work / f"service-{build.name}-{round_no}.log"
    out: dict[str, Any] = {}
    relay = RelayWatcher(run.stack.dsn, run.stack.amqp_url) if WRITE_CELLS & set(cells) else None
    with (
        serve(command, env, READY_PATH, log, c.workers, cwd=build.root) as server,
        relay or contextlib.nullcontext(),
    ):
        for cell in cells:
            relaying = messaging_process(server.processes()) if relay else None
            if relay is not None and relaying is not None and cell in WRITE_CELLS:
                measured, rep_relay = _with_relay(run, server, relay, relaying, build, cell)
            else:
                measured, rep_relay = run.wrk_cell(server, f"{build.name} {cell}", cell), None
            rep = dict(measured["reps"][0])
            rep["server_cpu_ms_per_request"] = measured["summary"].get("server_cpu_ms_per_request")
            if rep_relay is not None:
                rep["relay"] = rep_relay
            out[cell] = rep
    return {"cells": out, "log_tail": log.read_text(errors="replace")[-1000:]}


def _with_relay(
    run: Run, server: Any, relay: RelayWatcher, relaying: Any, build: Build, cell: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A write cell with the relay watched: its CPU per published event (the messaging
    process's CPU time over the cell, warm-up included, and until the outbox has drained,
    divided by the events it marked published in that window), the commit -> broker ack lag
    p99 of the rows written in the cell, and the largest backlog sampled while it ran."""
    cpu_before, started_at, started = cpu_seconds(relaying), now(), time.monotonic()
    measured = run.wrk_cell(server, f"{build.name} {cell}", cell)
    ended_at, ended = now(), time.monotonic()
    drained = relay.wait_drained(after=ended)
    cpu_after, drained_at = cpu_seconds(relaying), now()
    events = relay.published_between(started_at, drained_at)
    lags = relay.outbox_lags(started_at, ended_at)
    return measured, {
        "events": events,
        "cpu_seconds": round(cpu_after - cpu_before, 3),
        "cpu_ms_per_event": round(1000 * (cpu_after - cpu_before) / events, 4) if events else None,
        "lag_p50_ms": lags.get("p50"),
        "lag_p99_ms": lags.get("p99"),
        "rows": lags.get("rows"),
        "published": lags.get("published"),
        "max_backlog": relay.max_backlog(started, ended),
        "drained": drained,
    }

"""`python -m bench --profile CELL`: py-spy one service worker while wrk runs the cell.

Writes the collapsed stacks (feed them to any flame graph tool, or speedscope) and prints the
top frames by own time and by inclusive time.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from bench.server import serve, server_env, service_command
from bench.suite import Run
from bench.wrk import run_wrk

TOP = 25


def top_frames(collapsed: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(own time, inclusive time, total samples) from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own.most_common(TOP), inclusive.most_common(TOP), total


def _format(title: str, frames: list[tuple[str, int]], total: int) -> str:
    lines = [title]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in frames]
    return "\n".join(lines)


def profile_cell(run: Run, cell: str) -> int:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    c = run.config
    env, port = server_env(run.service_env())
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S")
    collapsed = c.results_dir / f"profile-{cell}-{stamp}.txt"
    collapsed.parent.mkdir(parents=True, exist_ok=True)
    command = service_command(port, c.workers)
    with serve(command, env, "/health/ready", run.work / "service.log", c.workers) as server:
        url, path = server.url + "/graphql", run.requests_file(cell)
        run_wrk(url, path, seconds=c.warmup, connections=c.connections)
        worker = server.workers()[0]
        seconds = int(c.seconds * c.repeats)
        outcome: list[object] = []

        def load_it() -> None:
            try:
                outcome.append(run_wrk(url, path, seconds=seconds + 2, connections=c.connections))
            except Exception as error:  # noqa: BLE001 - shown below
                outcome.append(error)

        load = threading.Thread(target=load_it)
        load.start()
        subprocess.run(
            [
                py_spy,
                "record",
                "-p",
                str(worker.pid),
                "-d",
                str(seconds),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(collapsed),
                "--gil",  # samples holding the GIL: where Python spends CPU, not waits
            ],
            check=True,
            capture_output=True,
        )
        load.join()
    print(f"load during the profile: {outcome[0] if outcome else 'none'}")
    own, inclusive, total = top_frames(collapsed)
    print(_format(f"== {cell}: own time (of {total} samples)", own, total))
    print(_format(f"== {cell}: inclusive time", inclusive, total))
    print(f"collapsed stacks: {collapsed}")
    return 0

"""A user's clone has nothing beside it: no tracked file may name a path outside the repo.

This is the quick check; `.ci/run` runs the whole suite in a clone with nothing beside it,
which also catches a path built in code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A parent-directory path (dot dot slash) as a Markdown link target or a quoted path start.
OUTSIDE = re.compile(r"\]\(\.\./|[\"'`]\.\./[A-Za-z]")
SKIPPED = ("package-lock.json", "subgraph/messaging/static/", "bench/results/")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and not name.startswith(SKIPPED)]


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    offending = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offending == []

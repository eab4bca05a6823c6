"""The README is a product page: at most 20,000 bytes, with the two-command quick start."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
QUICK_START = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/orders-subgraph serve",
    "bash .ci/test",
)


def test_the_readme_stays_under_twenty_thousand_bytes() -> None:
    assert len(README.encode()) <= 20_000, "move details to docs/ and link them"


def test_the_quick_start_is_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert all(command in quick_start for command in QUICK_START)

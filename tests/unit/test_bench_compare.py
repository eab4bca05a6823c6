"""`python -m bench --compare`: its pure parts (ratios, order, record shape, arguments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench import compare
from bench.__main__ import build_parser, compare_args
from bench.compare import NEW, OLD


def rep(rps: float, p99_ms: float = 10.0, errors: int = 0, cpu: float = 0.5) -> dict[str, Any]:
    return {"rps": rps, "p99_ms": p99_ms, "errors": errors, "server_cpu_ms_per_request": cpu}


def test_each_round_runs_both_builds_and_the_first_of_a_round_alternates() -> None:
    assert compare.alternation(4) == [
        (1, OLD),
        (1, NEW),
        (2, NEW),
        (2, OLD),
        (3, OLD),
        (3, NEW),
        (4, NEW),
        (4, OLD),
    ]
    # Over any two rounds, each build is first once and runs equally often.
    order = [build for _, build in compare.alternation(6)]
    assert order.count(OLD) == order.count(NEW) == 6


def test_a_session_runs_the_writes_after_the_reads() -> None:
    cells = ["placeOrder", "getOrder", "typename", "getOrders"]
    assert compare.session_cells(cells) == ["getOrder", "typename", "getOrders", "placeOrder"]
    assert compare.session_cells(["updateOrder", "getOrder"]) == ["getOrder", "updateOrder"]
    assert compare.session_cells(["getOrder"]) == ["getOrder"]


def test_the_ratio_is_the_median_of_the_per_round_ratios_with_their_range() -> None:
    got = compare.ratio_stats([1000.0, 2000.0, 1000.0], [1100.0, 1800.0, 1000.0])
    assert got == {"per_round": [1.1, 0.9, 1.0], "median": 1.0, "min": 0.9, "max": 1.1}


def test_a_round_where_the_old_build_served_nothing_gives_no_ratio() -> None:
    got = compare.ratio_stats([0.0, 500.0], [100.0, 400.0])
    assert got["per_round"] == [0.8]
    assert compare.ratio_stats([0.0], [1.0])["median"] is None
    with pytest.raises(ValueError):
        compare.ratio_stats([1.0, 2.0], [1.0])


def test_a_cell_result_has_both_sides_the_ratios_and_flags_errors() -> None:
    old = [rep(1000, 20.0), rep(1200, 30.0), rep(1100, 25.0)]
    new = [rep(1100, 18.0), rep(1200, 28.0, errors=2), rep(990, 22.0, cpu=0.6)]
    got = compare.cell_result(old, new)
    assert got[OLD]["rps"] == 1100.0
    assert got[NEW]["rps"] == 1100.0
    assert (got[OLD]["p99_ms"], got[NEW]["p99_ms"]) == (25.0, 22.0)
    assert (got[OLD]["errors"], got[NEW]["errors"]) == (0, 2)
    assert got["errors_flag"] is True
    assert got["ratio"]["per_round"] == [1.1, 1.0, 0.9]
    assert (got["ratio"]["min"], got["ratio"]["median"], got["ratio"]["max"]) == (0.9, 1.0, 1.1)
    assert got["cpu_ratio"]["max"] == 1.2
    assert "**ERRORS**" in compare.table({"getOrder": got})
    clean = compare.cell_result([rep(10)] * 2, [rep(10)] * 2)
    assert clean["errors_flag"] is False
    assert "ERRORS" not in compare.table({"getOrder": clean})


def test_a_write_cell_shows_the_relays_cpu_per_event_of_each_build_and_their_ratio() -> None:
    def relayed(rps: float, cpu_ms: float, lag: float, backlog: int) -> dict[str, Any]:
        figures = {"cpu_ms_per_event": cpu_ms, "lag_p99_ms": lag, "max_backlog": backlog}
        return {**rep(rps), "relay": {**figures, "events": 100}}

    old = [relayed(500, 0.40, 90.0, 30), relayed(520, 0.50, 120.0, 45)]
    new = [relayed(600, 0.20, 80.0, 20), relayed(610, 0.30, 150.0, 25)]
    got = compare.cell_result(old, new)
    assert (got[OLD]["relay_cpu_ms_per_event"], got[NEW]["relay_cpu_ms_per_event"]) == (0.45, 0.25)
    assert got["relay_cpu_ratio"]["per_round"] == [0.5, 0.6]
    assert (got[NEW]["relay_lag_p99_ms_max"], got[NEW]["relay_max_backlog"]) == (150.0, 25)
    lines = compare.table({"placeOrder": got}).splitlines()
    assert lines[-1].startswith("| placeOrder | 0.450 | 0.250 | 0.550 (0.500..0.600) | 105.0")
    assert "relay" not in compare.table({"getOrder": compare.cell_result([rep(1)], [rep(1)])})


def test_the_table_shows_each_cell_with_its_ratio_and_spread() -> None:
    got = compare.cell_result([rep(1000), rep(2000)], [rep(1100), rep(1800)])
    lines = compare.table({"getOrders": got}).splitlines()
    assert lines[0].startswith("| cell | old req/s | new req/s | new/old req/s (min..max)")
    assert lines[2].startswith("| getOrders | 1,500.0 | 1,450.0 | 1.000 (0.900..1.100) |")


def test_the_result_file_names_both_commits_and_says_dirty(tmp_path: Path) -> None:
    started = datetime(2026, 12, 7, 17, 5, 9, tzinfo=UTC)
    path = compare.output_path(tmp_path, started, "a" * 40, "b" * 40, dirty=False)
    assert path == tmp_path / "compare-2026-12-07T170509-aaaaaaa-bbbbbbb.json"
    dirty = compare.output_path(tmp_path, started, "a" * 40, "b" * 40, dirty=True)
    assert dirty.name.endswith("-bbbbbbb-dirty.json")


def test_a_cell_result_is_plain_json() -> None:
    got = compare.cell_result([rep(1000), rep(900)], [rep(1000), rep(990)])
    again = json.loads(json.dumps(got))
    assert again == got
    assert set(got) == {OLD, NEW, "ratio", "cpu_ratio", "errors_flag"}
    assert set(got[OLD]) == {
        "rps",
        "p99_ms",
        "server_cpu_ms_per_request",
        "errors",
        "rps_by_round",
        "p99_ms_by_round",
    }


def parse(*argv: str) -> compare.CompareArgs | list[str]:
    return compare_args(build_parser().parse_args(["--compare", *argv]))


def test_the_compare_arguments_and_their_defaults() -> None:
    got = parse("HEAD~3", "--cells", "getOrder", "placeOrder", "--rounds", "4", "--seconds", "5")
    assert isinstance(got, compare.CompareArgs)
    assert (got.rev, got.cells, got.rounds, got.seconds) == (
        "HEAD~3",
        ("getOrder", "placeOrder"),
        4,
        5.0,
    )
    assert (got.warmup, got.workers, got.connections) == (5.0, 2, 32)
    quick = parse("main", "--quick")
    assert isinstance(quick, compare.CompareArgs)
    assert (quick.rounds, quick.seconds, quick.orders_per_user) == (2, 2.0, 5)
    assert "entities_user_1000" in quick.cells  # every cell unless --cells says otherwise


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rounds", "1"], "--rounds must be at least 2"),
        (["--seconds", "0"], "--seconds must be positive"),
        (["--warmup", "-1"], "--warmup must not be negative"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--connections", "0"], "--connections must be at least 1"),
        (["--cells", "getOrder", "getOrder"], "a cell is named twice"),
        (["--profile", "getOrder"], "--profile does not apply to --compare"),
        (["--repeats", "3"], "--repeats does not apply to --compare"),
        (["--skip-floors"], "--skip-floors does not apply to --compare"),
    ],
)
def test_bad_compare_arguments_are_refused(argv: list[str], message: str) -> None:
    got = parse("HEAD~1", *argv)
    assert isinstance(got, list)
    assert any(message in error for error in got), got


def test_an_unknown_cell_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--compare", "HEAD", "--cells", "nope"])


def test_a_cli_without_what_the_bench_passes_is_named() -> None:
    assert compare.cli_missing('serve --workers --port --no-migrate "migrate"') == []
    assert compare.cli_missing('serve --port "migrate"') == ["--no-migrate", "--workers"]


def test_schema_differences_show_what_each_build_alone_has() -> None:
    old = ["column orders.id integer", "index a"]
    new = ["column orders.id bigint", "index a", "index b"]
    assert compare.schema_differences(old, new) == [
        "- column orders.id integer",
        "+ column orders.id bigint",
        "+ index b",
    ]
    assert compare.schema_differences(old, list(reversed(old))) == []


def test_third_party_differences_leave_out_the_project_and_what_the_old_venv_lacks() -> None:
    mine = ["asyncpg==0.32.0", "orders-subgraph==0.1.0", "pytest==9.2.0", "Uvloop==0.21.0"]
    theirs = ["asyncpg==0.31.0", "orders_subgraph==0.0.9", "uvloop==0.21.0"]
    assert compare.freeze_differences(mine, theirs) == ["asyncpg: new 0.32.0, old 0.31.0"]


def test_a_revision_git_does_not_know_is_refused() -> None:
    with pytest.raises(compare.CompareError, match="unknown revision"):
        compare.resolve("no-such-revision-anywhere")


def test_sigterm_ends_a_compare_through_its_cleanups_and_the_handler_is_restored() -> None:
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    if before != signal.SIG_DFL:
        pytest.skip("SIGTERM is handled by the test runner here")
    cleaned = []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), compare.signals_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            cleaned.append(True)
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) == before

"""`python -m bench.processes`: its configurations and its per-request arithmetic."""

from __future__ import annotations

import pytest

from bench.processes import Configuration, parse_configuration, per_request


def test_a_configuration_has_a_label_environment_and_optional_sql() -> None:
    parsed = parse_configuration(
        "per commit: OUTBOX_NOTIFY_SECONDS=0; LIBRARY_OVERRIDES=a,b; sql=SELECT 1"
    )

    assert parsed == Configuration(
        "per commit", {"OUTBOX_NOTIFY_SECONDS": "0", "LIBRARY_OVERRIDES": "a,b"}, "SELECT 1"
    )
    assert parse_configuration("default:") == Configuration("default")


@pytest.mark.parametrize("text", [": A=1", "label: A"])
def test_a_malformed_configuration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"label|NAME=value"):
        parse_configuration(text)


def test_cpu_per_request_adds_up_each_role_over_processes_seen_at_both_ends() -> None:
    before = {1: ("worker 1", 10.0), 2: ("postgres", 5.0), 3: ("postgres", 1.0)}
    after = {1: ("worker 1", 10.5), 2: ("postgres", 5.2), 3: ("postgres", 1.1), 4: ("postgres", 9)}

    assert per_request(before, after, requests=1000) == {"postgres": 300.0, "worker 1": 500.0}

"""`python -m bench --soak`, shortened: the command runs end to end and its checks hold.

The real run is ten minutes with a restart every two (docs/operations.md); this one restarts
the database twice in twelve seconds of load and reads the JSON record it writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cluster import BinariesMissing, find_bindir
from tests.conftest import service_unavailable
from tests.faults.conftest import REPOSITORY
from tests.federation.processes import child_env

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def test_a_short_soak_loses_nothing_across_two_database_restarts(tmp_path: Path) -> None:
    try:
        find_bindir()
    except BinariesMissing as error:
        service_unavailable("PostgreSQL binaries (for the soak's own cluster)", error)
    output = tmp_path / "soak.json"
    command = [sys.executable, "-m", "bench", "--soak", "--minutes", "0.2", "--restart-every", "5"]
    done = subprocess.run(
        [*command, "--output", str(output)],
        cwd=REPOSITORY,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(output.read_text())["result"]
    assert result["restarts"] == 2
    assert result["reads"]["sent"] > 0 and result["reads"]["failed"] == {}
    assert result["writes"]["orders_acknowledged"] == result["database"]["orders"] > 0
    assert result["database"]["acknowledged_orders_missing"] == 0
    assert result["events"]["outbox_rows"] == result["database"]["orders"]
    assert result["events"]["order_placed_not_seen_on_broker"] == 0
    assert result["serve_exit"]["code"] == 0
    assert "verdict: PASS" in done.stdout

"""Start Hive Gateway (the pinned ``@graphql-hive/gateway``) in front of the test subgraphs.

It serves a supergraph file composed by us (Hive's own composition refuses federation v2.11)
with the configuration users run too, ``gateways/hive/gateway.config.ts``, which reads the
file's path from ``SUPERGRAPH``. Readiness is Hive's ``/readiness``: 200 once the supergraph
is loaded.

Offline: Hive reports usage, traces or fetches a schema only when given ``--hive-*``,
``--apollo-*`` or ``--opentelemetry`` flags or their ``HIVE_*``, ``APOLLO_*``,
``OPENTELEMETRY*`` variables; those are dropped from its environment, as are proxy variables.
Its CLI also reads ``LOG_LEVEL`` and exits on a value it does not know (the subgraphs'
``WARNING``), and ``NODE_ENV=development`` adds ``extensions.cost`` to every response, so
both are set here rather than inherited.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import service_unavailable
from tests.federation import processes
from tests.federation.composition import REPO, node_executable
from tests.support import free_port

HIVE = REPO / "node_modules" / ".bin" / "hive-gateway"
CONFIG = REPO / "gateways" / "hive" / "gateway.config.ts"
READY_TIMEOUT = 2.0  # seconds per readiness probe
_DROPPED_PREFIXES = ("HIVE_", "APOLLO_", "OPENTELEMETRY", "OTEL_")
_DROPPED = frozenset({"FORK", "NODE_ENV", "CONFIG_PATH", "HOST", "PORT", "SUPERGRAPH"})


def hive_executable() -> Path:
    """Hive Gateway's CLI from node_modules, or skip/fail (CI) the test without it."""
    if not HIVE.exists():
        missing = FileNotFoundError(f"{HIVE.relative_to(REPO)} is missing: run `npm ci`")
        service_unavailable("Hive Gateway", missing)
    return HIVE


def start_hive(
    *, supergraph: Path, workdir: Path, env: dict[str, str], port: int | None = None
) -> processes.Server:
    """Serve ``supergraph`` with Hive Gateway on ``port`` (a free one) of 127.0.0.1.

    Returns once ``/readiness`` answers 200; a Hive that exits first (a missing supergraph
    file, a bad configuration) or never gets ready raises ``processes.StartFailed`` with the
    tail of its log (``workdir/hive.log``).
    """
    node = node_executable()
    hive = hive_executable()
    workdir.mkdir(parents=True, exist_ok=True)
    child_env = {
        name: value
        for name, value in env.items()
        if not name.startswith(_DROPPED_PREFIXES)
        and name not in _DROPPED
        and not name.lower().endswith("_proxy")
    }
    child_env.update(
        APOLLO_TELEMETRY_DISABLED="1",
        SUPERGRAPH=str(supergraph.resolve()),
        LOG_LEVEL="info",
        NO_COLOR="1",
    )
    port = port or free_port()

    def ready() -> bool:
        response = httpx.get(f"http://127.0.0.1:{port}/readiness", timeout=READY_TIMEOUT)
        return response.status_code == 200

    argv = [
        node,
        str(hive),
        "supergraph",
        "--config-path",
        str(CONFIG),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return processes.start_http(
        "hive", argv, port=port, ready=ready, cwd=workdir, env=child_env, log_dir=workdir
    )

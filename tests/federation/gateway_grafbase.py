"""Start Grafbase (``grafbase dev``, the pinned npm binary) in front of the test subgraphs.

``grafbase dev`` composes the subgraph SDL files itself and serves the result with the
gateway configuration users run too, ``gateways/grafbase/grafbase.toml``. That file reads each
subgraph's URL and SDL file from ``<NAME>_URL`` and ``<NAME>_SCHEMA``, which are set here.

Offline: ``grafbase dev`` 0.103.0 has no telemetry and no update check (there is no setting
for either). It reaches the network only for a ``--graph-ref`` (the Grafbase API), for
``[extensions]`` in its configuration (downloads) and, in the gateway, with a
``GRAFBASE_ACCESS_TOKEN``: none of these is used, and ``GRAFBASE_*`` variables are dropped
from its environment, as are proxy variables (its HTTP client would send the subgraph calls to
127.0.0.1 through them). It unpacks its web app into ``$HOME/.grafbase``: HOME is ``workdir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.conftest import service_unavailable
from tests.federation import processes
from tests.federation.composition import REPO
from tests.support import free_port

GRAFBASE = REPO / "node_modules" / "@grafbase" / "cli-x86_64-unknown-linux-musl" / "grafbase"
CONFIG = REPO / "gateways" / "grafbase" / "grafbase.toml"
SUBGRAPHS = frozenset({"users", "products", "orders"})  # the names grafbase.toml reads
READY_TIMEOUT = 2.0  # seconds per readiness probe


def grafbase_executable() -> Path:
    """The Grafbase CLI from node_modules, or skip/fail (CI) the test without it."""
    if not GRAFBASE.is_file():
        missing = FileNotFoundError(
            f"{GRAFBASE.relative_to(REPO)} is missing: run `npm ci` (on x86_64 Linux)"
        )
        service_unavailable("Grafbase", missing)
    return GRAFBASE


def start_grafbase(
    *,
    subgraphs: Mapping[str, tuple[Path, str]],
    workdir: Path,
    env: dict[str, str],
    port: int | None = None,
) -> processes.Server:
    """Serve ``{name: (sdl_file, url)}`` with ``grafbase dev`` on ``port`` (a free one).

    Returns once Grafbase answers ``{ __typename }``; a Grafbase that exits first (a
    composition error, a missing SDL file) or never answers raises ``processes.StartFailed``
    with the tail of its log (``workdir/grafbase.log``).
    """
    if set(subgraphs) != SUBGRAPHS:
        raise ValueError(
            f"grafbase.toml serves exactly {sorted(SUBGRAPHS)}: got {sorted(subgraphs)}"
        )
    grafbase = grafbase_executable()
    workdir.mkdir(parents=True, exist_ok=True)
    child_env = {
        name: value
        for name, value in env.items()
        if not name.startswith("GRAFBASE_") and not name.lower().endswith("_proxy")
    }
    child_env.setdefault("RUST_LOG", "warn")  # Grafbase logs only errors otherwise
    child_env.update(HOME=str(workdir), NO_COLOR="1")
    for name, (sdl_file, url) in subgraphs.items():
        child_env[f"{name.upper()}_URL"] = url
        child_env[f"{name.upper()}_SCHEMA"] = str(sdl_file.resolve())
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/graphql"

    def answers() -> bool:
        # Its /health answers "healthy" whatever the graph's state: ask the graph itself.
        response = httpx.post(url, json={"query": "{ __typename }"}, timeout=READY_TIMEOUT)
        return response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}

    argv = [str(grafbase), "dev", "--config", str(CONFIG), "--port", str(port)]
    return processes.start_http(
        "grafbase", argv, port=port, ready=answers, cwd=workdir, env=child_env, log_dir=workdir
    )

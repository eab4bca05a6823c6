"""Compose subgraph SDLs with the pinned @apollo/composition (through compose.mjs) and read
the repository's supergraph.yaml the way rover does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import service_unavailable

REPO = Path(__file__).resolve().parents[2]
COMPOSE_SCRIPT = REPO / "gateways" / "compose.mjs"
GATEWAY_SCRIPT = REPO / "gateways" / "apollo-gateway" / "gateway.mjs"
COMPOSE_TIMEOUT = 120.0

_ENV_DEFAULT = re.compile(r"\$\{env\.[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")
_HINT_CODE = re.compile(r"^\[([A-Z0-9_]+)\]")


def node_executable() -> str:
    """The machine's node with the locked npm packages installed, or skip/fail (CI) the test."""
    node = shutil.which("node")
    if node is None:
        service_unavailable("Node.js", FileNotFoundError("`node` is not on PATH"))
    for package in ("@apollo/composition", "@apollo/gateway", "graphql"):
        if not (REPO / "node_modules" / package).is_dir():
            missing = FileNotFoundError(f"node_modules/{package} is missing: run `npm ci`")
            service_unavailable("The locked npm packages", missing)
    assert node is not None
    return node


@dataclass(frozen=True)
class Composition:
    errors: list[str]
    hints: list[str]
    supergraph_sdl: str | None

    @property
    def hint_codes(self) -> set[str]:
        return {m.group(1) for hint in self.hints if (m := _HINT_CODE.match(hint))}


def compose(subgraphs: Mapping[str, tuple[str, str]], workdir: Path) -> Composition:
    """Compose ``{name: (sdl, routing_url)}``; the SDL files are written into ``workdir``."""
    node = node_executable()
    workdir.mkdir(parents=True, exist_ok=True)
    args = []
    for name, (sdl, url) in subgraphs.items():
        path = workdir / f"{name}.graphql"
        path.write_text(sdl, encoding="utf-8")
        args.append(f"{name}={path}@{url}")
    finished = subprocess.run(
        [node, str(COMPOSE_SCRIPT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COMPOSE_TIMEOUT,
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(finished.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"compose.mjs printed no JSON:\n{finished.stderr}") from None
    return Composition(result["errors"], result["hints"], result["supergraphSdl"])


def expand_defaults(value: str) -> str:
    """Expand rover's ``${env.NAME:-default}`` to the default, as on a machine without NAME."""
    return _ENV_DEFAULT.sub(lambda m: m.group(1), value)


def supergraph_config() -> dict[str, Any]:
    """supergraph.yaml as parsed YAML, environment references left as written."""
    config: dict[str, Any] = yaml.safe_load((REPO / "supergraph.yaml").read_text("utf-8"))
    return config


def router_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "router.yaml").read_text("utf-8"))
    return config


def locked_npm_version(package: str) -> str:
    """The exact version package-lock.json installs for ``package``."""
    lock = json.loads((REPO / "package-lock.json").read_text("utf-8"))
    version: str = lock["packages"][f"node_modules/{package}"]["version"]
    return version

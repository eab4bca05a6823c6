"""How `orders-subgraph serve` (and the bench's floor (a)) run uvicorn: stock uvicorn, uvloop
and httptools, its own multiprocess supervisor; garbage collection tuned per worker
(`garbage_collection`).

Two overrides of uvicorn's internals used to live here (each response sent in one write, a
SO_REUSEPORT socket per worker); measured on and off in one run they moved no cell beyond the
run's spread and were deleted (docs/upgrading.md).
"""

from __future__ import annotations

from typing import Any

import uvicorn

SERVER_SETTINGS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "server_header": False,
    "proxy_headers": False,
}


def run(app: str, **options: Any) -> int:
    """`uvicorn.run(app, **options)`; uvicorn exits the process itself when it cannot bind."""
    uvicorn.run(app, **options)
    return 0

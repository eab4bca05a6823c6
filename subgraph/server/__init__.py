"""How `orders-subgraph serve` runs uvicorn: its settings, workers and garbage collection.

The two server overrides (each response in one write, a listening socket per worker) live in
subgraph/overrides/ and apply when LIBRARY_OVERRIDES leaves them on; off, this is stock
uvicorn: `uvicorn.run` with its httptools protocol and its own multiprocess supervisor.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from subgraph.settings import Settings


def server_settings(settings: Settings) -> dict[str, Any]:
    """uvicorn's options as production serves (the bench's floor (a) serves the same way)."""
    http = "httptools"
    if settings.override("coalesced_writes"):
        http = "subgraph.overrides.coalesced_writes:CoalescingHttpToolsProtocol"
    return {"loop": "uvloop", "http": http, "server_header": False, "proxy_headers": False}


def run(app: str, settings: Settings, **options: Any) -> int:
    """`uvicorn.run(app, **options)`; with several workers, a socket each if that is on."""
    if settings.override("socket_per_worker") and options.get("workers", 1) > 1:
        from subgraph.overrides import socket_per_worker

        if socket_per_worker.available():
            return socket_per_worker.run(app, **options)
    uvicorn.run(app, **options)
    return 0

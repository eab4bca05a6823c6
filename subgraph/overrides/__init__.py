"""Every place the service replaces or reaches into a library's internals, for speed.

Each override is one module here, named in `OVERRIDES` (the module's name), and each is
switched by the `LIBRARY_OVERRIDES` setting (all on by default; `none` turns every one off).
Two more were measured and deleted (docs/upgrading.md). With an override off the service
takes the library's own public path; answers, error codes, events and the SDL
are the same either way (`.ci/run` runs the whole suite a second time with
`LIBRARY_OVERRIDES=none`). Only the overrides that measurably pay are kept: the gain of each is
in its module docstring and in docs/upgrading.md, which also lists every non-public name used
and the test that fails when a library changes it. The libraries are pinned to exact versions
in pyproject.toml.

Modules are imported only when their override is on, so with `LIBRARY_OVERRIDES=none` none of
these internals is even imported by the service.
"""

from __future__ import annotations

OVERRIDES: dict[str, str] = {
    "executor": "graphql-core's executor answers plain leaf fields and lists of them directly",
    "extension_hooks": "Strawberry's extension hooks analysed once per class, not per request",
    "document_cache": "each distinct document parsed and validated once (lru caches)",
    "litestar_post": "the GraphQL POST handler builds its three dependencies inline",
    "entity_batches": "`_entities` resolves each type's share of a batch in one call",
    "metrics_batches": "request metrics counted in the process, written to Prometheus in batches",
    "socket_per_worker": "each uvicorn worker listens on a SO_REUSEPORT socket of its own",
    "relay_publish": "the relay publishes through aiormq's channel, past FastStream's layers",
    "amqp_writes": "AMQP frames already queued go to RabbitMQ's socket in one write",
    "light_spans": "spans of our own (the OpenTelemetry API's) read by the SDK's processors",
    "otlp_spans": "spans exported over OTLP/HTTP encoded straight to bytes, repeated parts cached",
}
"""Name -> what it does. The names are the values LIBRARY_OVERRIDES accepts."""

ALL = frozenset(OVERRIDES)
NONE: frozenset[str] = frozenset()

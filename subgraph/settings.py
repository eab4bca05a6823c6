"""Configuration from the environment and an optional `.env`, read once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from subgraph.overrides import ALL as ALL_OVERRIDES
from subgraph.overrides import OVERRIDES

# Directives our SDL prints for routers to enforce (Apollo Router with a GraphOS plan, Hive's
# demand control); the subgraph never relies on them. FEDERATION_DIRECTIVES picks which.
ROUTER_DIRECTIVES = ("authenticated", "listSize")


class Settings(BaseSettings):
    """Every knob of the service; names match the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    log_level: str = "INFO"

    # Database: DATABASE_URL wins; else the seed's POSTGRES_* names; else the embedded SQLite file.
    database_url: str | None = None
    postgres_user: str | None = None
    postgres_password: SecretStr | None = None
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str | None = None
    sqlite_path: str = "orders.sqlite3"
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    # Bounded waiting on PostgreSQL (docs/operations.md): opening a connection, taking one from
    # the pool, one statement (COMMIT included); past them a request fails SERVICE_UNAVAILABLE.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_statement_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # A read whose connection died waits this long (from its start) for the database to answer
    # again, then runs once more on a fresh connection.
    db_read_retry_budget_seconds: float = Field(default=10.0, ge=0, le=300)
    # Start-up with the database down: retries with backoff up to this delay between attempts.
    db_startup_retry_max_seconds: float = Field(default=10.0, gt=0, le=300)
    # /health/ready: the database probe's own timeout, and how long its answer is reused.
    health_check_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    health_check_cache_seconds: float = Field(default=0.25, ge=0, le=5)
    # `serve` (and each worker) applies pending migrations once the database answers.
    migrate_on_start: bool = True
    # SIGTERM: stop accepting, answer what was received, finish the relay's round, exit by then.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Messaging (events, issue 4): unset keeps events in the outbox.
    rabbitmq_url: SecretStr | None = None
    outbox_relay_enabled: bool = True  # publish the outbox from inside `serve`
    inventory_consumer_enabled: bool = True  # consume inventory results inside `serve`
    # `serve` runs the relay and the consumer in one process of their own beside its HTTP
    # workers (a busy worker would delay events); false runs them inside each worker.
    messaging_process: bool = True
    outbox_batch_size: int = Field(default=100, ge=1, le=1000)
    outbox_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    # Pause before a publishing round that follows a partial one, so a round takes a batch.
    outbox_gather_seconds: float = Field(default=0.02, ge=0, le=1)
    outbox_retry_base_seconds: float = Field(default=1.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=60.0, gt=0)
    outbox_retention_hours: float = Field(default=168.0, ge=0)
    # placeOrder's idempotency keys answer retries at least this long, then the relay forgets
    # them with the published outbox rows (a retry after that places a new order).
    idempotency_key_retention_hours: float = Field(default=24.0, ge=24)
    rabbitmq_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    rabbitmq_publish_timeout_seconds: float = Field(default=10.0, gt=0)
    # The broker address printed in the AsyncAPI document; never derived from RABBITMQ_URL,
    # so credentials and internal hosts cannot leak into the published contract.
    asyncapi_server_url: str = "amqp://localhost:5672/"

    # Authentication.
    jwt_secret_key: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)
    jwt_roles_claim: str = "roles"
    # The JWK set is refetched after this long, and at most this often for an unknown `kid`.
    jwt_jwks_cache_seconds: float = Field(default=300, gt=0)
    jwt_jwks_refresh_cooldown_seconds: float = Field(default=30, ge=0)
    # Verified tokens remembered per worker (least recently used out; 0 turns it off).
    jwt_verified_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)

    # --- Live updates (GraphQL subscriptions, issue 17; docs/subscriptions.md).
    live_updates_enabled: bool = True
    # Changes a subscriber may have waiting; one more ends it (SUBSCRIPTION_OVERFLOW).
    subscription_queue_size: int = Field(default=100, ge=1, le=100_000)
    subscriptions_per_connection: int = Field(default=50, ge=1, le=10_000)
    subscriptions_per_worker: int = Field(default=10_000, ge=1, le=1_000_000)
    # The feed reads the outbox on each NOTIFY (PostgreSQL) or commit of this process, and
    # at least this often (SQLite with several workers or processes; a lost LISTEN connection).
    live_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # PostgreSQL: each worker sends one NOTIFY per burst of its outbox commits, at most one per
    # this interval (persistence/outbox_notices.py); 0 leaves it to the trigger, per commit.
    outbox_notify_seconds: float = Field(default=0.01, ge=0, le=1)
    # WebSocket keep-alive ("ka" for graphql-ws) and SSE heartbeat interval.
    subscription_keep_alive_seconds: float = Field(default=15.0, gt=0, le=300)
    # --- end live updates

    # GraphQL guards.
    graphql_introspection: bool = True
    # Production refuses to start with introspection on unless this says it is intended.
    graphql_introspection_in_production: bool = False
    graphql_max_depth: int = Field(default=12, ge=1)
    graphql_max_aliases: int = Field(default=30, ge=1)
    graphql_max_tokens: int = Field(default=2000, ge=1)
    request_max_body_bytes: int = Field(default=100_000, ge=1024)
    # The router-enforced directives the printed SDL carries: comma-separated, empty for none
    # (for @apollo/gateway, which refuses a supergraph that links @authenticated for SECURITY).
    federation_directives: Annotated[frozenset[str], NoDecode] = frozenset(ROUTER_DIRECTIVES)

    # --- Observability (docs/observability.md) -------------------------------------------
    # Log lines: one JSON object a line, or text; unset: JSON when APP_ENV=production.
    log_format: Literal["json", "text"] | None = None
    metrics_enabled: bool = True  # GET /metrics (Prometheus)
    graphql_resolver_spans: bool = False  # a span per resolver (costly), not only per operation
    apollo_federation_tracing: bool = False  # ftv1 for routers sending the header; costs always
    # The standard OpenTelemetry variables, read here so an unusable value refuses to start
    # naming its variable; tracing is off (and costs nothing) unless an exporter is asked for.
    otel_sdk_disabled: bool = False
    otel_service_name: str | None = None
    otel_traces_exporter: Literal["otlp", "console", "none"] | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] | None = None
    otel_exporter_otlp_traces_protocol: Literal["http/protobuf", "grpc"] | None = None
    otel_exporter_otlp_timeout: float | None = Field(default=None, gt=0, le=300)
    otel_traces_sampler: (
        Literal[
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ]
        | None
    ) = None
    otel_traces_sampler_arg: float | None = Field(default=None, ge=0, le=1)
    otel_bsp_max_queue_size: int | None = Field(default=None, ge=1, le=1_000_000)
    otel_bsp_max_export_batch_size: int | None = Field(default=None, ge=1, le=100_000)
    otel_bsp_schedule_delay: int | None = Field(default=None, ge=1, le=3_600_000)  # ms
    otel_bsp_export_timeout: int | None = Field(default=None, ge=1, le=3_600_000)  # ms

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _collector_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("otel_traces_sampler", mode="before")
    @classmethod
    def _sampler_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # --- end of observability ------------------------------------------------------------
    # Speed-ups that reach into library internals (subgraph/overrides/): comma-separated
    # names, `all` (the default) or `none`. Answers are the same with any of them off.
    library_overrides: Annotated[frozenset[str], NoDecode] = ALL_OVERRIDES

    @field_validator("library_overrides", mode="before")
    @classmethod
    def _override_names(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        if names == ["all"]:
            return ALL_OVERRIDES
        if names == ["none"]:
            return frozenset()
        return frozenset(names)

    @field_validator("library_overrides")
    @classmethod
    def _known_overrides(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - ALL_OVERRIDES)
        if unknown:
            raise ValueError(
                f"unknown override(s) {', '.join(unknown)}; choose from "
                f"{', '.join(OVERRIDES)}, or `all`, or `none`"
            )
        return value

    def override(self, name: str) -> bool:
        """Whether the library override `name` (a key of overrides.OVERRIDES) is on."""
        assert name in OVERRIDES, name
        return name in self.library_overrides

    @field_validator("federation_directives", mode="before")
    @classmethod
    def _known_directives(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        by_folded_name = {name.lower(): name for name in ROUTER_DIRECTIVES}
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [name for name in names if name.lower() not in by_folded_name]
        if unknown:
            raise ValueError(
                f"unknown directive(s) {', '.join(unknown)}; "
                f"choose from {', '.join(ROUTER_DIRECTIVES)}, or leave it empty for none"
            )
        return frozenset(by_folded_name[name.lower()] for name in names)

    @field_validator(
        "database_url",
        "postgres_user",
        "postgres_password",
        "postgres_db",
        "rabbitmq_url",
        "jwt_secret_key",
        "jwt_public_key",
        "jwt_jwks_url",
        "jwt_audience",
        "jwt_issuer",
        "log_format",
        "otel_service_name",
        "otel_traces_exporter",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_exporter_otlp_protocol",
        "otel_exporter_otlp_traces_protocol",
        "otel_exporter_otlp_timeout",
        "otel_traces_sampler",
        "otel_traces_sampler_arg",
        "otel_bsp_max_queue_size",
        "otel_bsp_max_export_batch_size",
        "otel_bsp_schedule_delay",
        "otel_bsp_export_timeout",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # Compose files write `RABBITMQ_URL=` for "none": an empty value is no value.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    @property
    def postgres_dsn(self) -> str | None:
        """The PostgreSQL URL to use, or None for the embedded SQLite default."""
        if self.database_url:
            return self.database_url
        if self.postgres_db:
            user = quote(self.postgres_user or "postgres", safe="")
            password = self.postgres_password.get_secret_value() if self.postgres_password else ""
            auth = f"{user}:{quote(password, safe='')}" if password else user
            return (
                f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
            )
        return None


class ConfigurationError(Exception):
    """The settings cannot work, or are unsafe for production; the message names the fix."""


MIN_PRODUCTION_SECRET_BYTES = 32


def refuse_unsafe(settings: Settings) -> None:
    """Raise ConfigurationError listing every reason production must not start with these."""
    if settings.app_env != "production":
        return
    problems: list[str] = []
    secret = settings.jwt_secret_key.get_secret_value() if settings.jwt_secret_key else ""
    # With a public key or a JWKS URL the secret, if any, is not used.
    uses_secret = not (settings.jwt_jwks_url or settings.jwt_public_key)
    if uses_secret and not secret:
        problems.append("no token key: set JWT_SECRET_KEY, JWT_PUBLIC_KEY or JWT_JWKS_URL")
    elif uses_secret and len(secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
        problems.append(f"JWT_SECRET_KEY is shorter than {MIN_PRODUCTION_SECRET_BYTES} bytes")
    if settings.graphql_introspection and not settings.graphql_introspection_in_production:
        problems.append(
            "GRAPHQL_INTROSPECTION is on: set GRAPHQL_INTROSPECTION=false, "
            "or GRAPHQL_INTROSPECTION_IN_PRODUCTION=true to keep it on deliberately"
        )
    if problems:
        raise ConfigurationError("APP_ENV=production refuses to start: " + "; ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()

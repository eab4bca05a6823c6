"""One log format for every logger of every process: ours, uvicorn's, FastStream's, Piccolo's.

LOG_FORMAT=json writes one JSON object a line (`time`, `level`, `logger`, `message`, and when
there is one `request_id`, `trace_id`, `span_id`; the access line adds `operation`,
`operation_type`, `outcome` and `duration_ms`); LOG_FORMAT=text writes
`time LEVEL logger: message`. Unset, production logs JSON and development text.

Every line passes the token redaction (`subgraph.auth.redaction`) as a whole, after
formatting: message, arguments, exception text and every field.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from subgraph.auth.redaction import RedactTokens, redact
from subgraph.telemetry import graphql, tracing

# Loggers that install handlers of their own and stop propagating; we take them back.
FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "piccolo")
BROKER_LOGGER = "faststream.access.rabbit"  # handed to the broker (messaging/broker.py)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_format(settings: Any) -> str:
    """`json` or `text`: LOG_FORMAT, else JSON in production."""
    chosen: str | None = settings.log_format
    if chosen is None:
        return "json" if settings.app_env == "production" else "text"
    return chosen


def _request_id() -> str | None:
    context = graphql.REQUEST.get()
    if context is None:
        return None
    try:
        return str(context.request_id)
    except Exception:  # noqa: BLE001 - a log line never fails for its request id
        return None


class JsonFormatter(logging.Formatter):
    """One JSON object a line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        ids = tracing.trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        operation = getattr(record, "graphql_operation", None)
        if isinstance(operation, graphql.Operation):
            entry["operation"] = operation.name
            entry["operation_type"] = operation.type
            entry["outcome"] = operation.outcome
            entry["duration_ms"] = operation.duration_ms
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, the access line naming its operation; redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        operation = getattr(record, "graphql_operation", None)
        if isinstance(operation, graphql.Operation):
            first, newline, rest = text.partition("\n")
            text = (
                f"{first} operation={operation.type}:{operation.name} "
                f"outcome={operation.outcome} duration_ms={operation.duration_ms}"
                f"{newline}{rest}"
            )
        return redact(text)


class AccessOperation(logging.Filter):
    """Names the GraphQL operation (and its duration) on uvicorn's access line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == graphql.ACCESS_LOGGER:
            operation = graphql.OPERATION.get()
            if operation is not None:
                record.graphql_operation = operation
        return True


class RetriesWithoutTraceback(logging.Filter):
    """One line, not a traceback, for a library's "failed, retrying" WARNING.

    asyncpg's pool logs "Failed to restore the pool connection floor; retrying" with the
    connect error's full traceback on every try while the database is down (three per restart
    in the soak, bench/soak.py). The error's type and text say all an operator needs, as our own
    "database not available" lines do; tracebacks stay for errors.
    """

    LOGGERS = frozenset({"asyncpg.pool"})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in self.LOGGERS and record.exc_info and record.levelno <= logging.WARNING:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def make_formatter(format: str = "text") -> logging.Formatter:
    return JsonFormatter() if format == "json" else TextFormatter()


def dict_config(settings: Any) -> dict[str, Any]:
    """The logging configuration of a process (uvicorn applies it in each worker)."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "orders": {"()": f"{__name__}.make_formatter", "format": log_format(settings)}
        },
        "filters": {
            "redact_tokens": {"()": f"{RedactTokens.__module__}.RedactTokens"},
            "access_operation": {"()": f"{__name__}.AccessOperation"},
            "retries_without_traceback": {"()": f"{__name__}.RetriesWithoutTraceback"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "orders",
                "filters": ["redact_tokens", "access_operation", "retries_without_traceback"],
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in (*FOREIGN_LOGGERS, BROKER_LOGGER)
        },
    }


def configure(settings: Any) -> None:
    """Configure this process's logging (the CLI, the messaging process)."""
    logging.config.dictConfig(dict_config(settings))
    adopt_foreign_loggers()


def uvicorn_log_config(settings: Any) -> dict[str, Any]:
    """uvicorn's `log_config`: the same configuration, applied in each worker process."""
    return dict_config(settings)


def broker_logger() -> logging.Logger:
    """The logger FastStream's broker writes to: ours, propagating to the one handler."""
    broker = logging.getLogger(BROKER_LOGGER)
    broker.propagate = True
    return broker


def adopt_foreign_loggers() -> None:
    """Take back loggers that a library gave a handler of its own since `configure` (FastStream
    does so when imported): everything goes through the root logger's one handler."""
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True

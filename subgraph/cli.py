"""The `orders-subgraph` console script: serve, migrate, schema, token, relay, asyncapi."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from subgraph.persistence.migrate import migrate, use_package_conf
from subgraph.settings import ConfigurationError, get_settings, refuse_unsafe

if TYPE_CHECKING:
    from subgraph.messaging.supervisor import MessagingProcess

APP = "subgraph.app:create_app"
DEFAULT_PORT = 5000  # the seed service's port, so existing clients and bookmarks keep working


def _configure_logging() -> None:
    # Observability: one format (LOG_FORMAT) for every logger, tokens redacted.
    from subgraph.telemetry import logs

    logs.configure(get_settings())


def _uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging in each worker: ours (telemetry/logs.py), tokens scrubbed: its access
    log prints query strings."""
    from subgraph.telemetry import logs

    return logs.uvicorn_log_config(get_settings())


def _serve(args: argparse.Namespace) -> int:
    from subgraph import server
    from subgraph.auth.verification import TokenVerifier

    # Refuse before migrating or binding; every worker's create_app checks again.
    refuse_unsafe(get_settings())
    TokenVerifier(get_settings())
    if args.no_migrate:
        # The workers migrate once the database answers (one at a time), unless told not to.
        os.environ["MIGRATE_ON_START"] = "false"
        get_settings.cache_clear()
    from subgraph.telemetry.wiring import MetricsDirectory

    metrics_directory = MetricsDirectory()  # observability: one scrape sees every process
    metrics_directory.prepare(get_settings())
    messaging = _start_messaging_process()
    try:
        return server.run(
            APP,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=get_settings().log_level.lower(),
            log_config=_uvicorn_log_config(),
            **server.SERVER_SETTINGS,
        )
    finally:
        if messaging is not None:
            messaging.stop()
        metrics_directory.remove()


def _start_messaging_process() -> MessagingProcess | None:
    """With a broker, run the relay and the consumer in a child process, not in the workers.

    The workers learn it from their environment (they read their settings when they start).
    """
    from subgraph.messaging.supervisor import MessagingProcess

    settings = get_settings()
    relay, consume = settings.outbox_relay_enabled, settings.inventory_consumer_enabled
    if not settings.messaging_process or not (relay or consume):
        return None
    if settings.rabbitmq_url is None:
        # Said once here, not once per worker: the workers are told to leave messaging alone.
        logging.getLogger("subgraph.messaging").warning(
            "RABBITMQ_URL is not set: no messaging process runs; events stay in the outbox "
            "until a relay with a broker runs (`orders-subgraph relay`)"
        )
        _leave_messaging_to_no_worker()
        return None
    command = [sys.executable, "-m", "subgraph.cli", "relay"]
    if not relay:
        command.append("--no-relay")
    if not consume:
        command.append("--no-consume")
    _leave_messaging_to_no_worker()
    process = MessagingProcess(command)
    process.start()
    return process


def _leave_messaging_to_no_worker() -> None:
    """The workers read their settings from the environment when they start."""
    os.environ["OUTBOX_RELAY_ENABLED"] = "false"
    os.environ["INVENTORY_CONSUMER_ENABLED"] = "false"
    get_settings.cache_clear()  # with one worker, uvicorn builds the app in this process


def _migrate(_: argparse.Namespace) -> int:
    asyncio.run(migrate())
    print("database is at the latest schema")
    return 0


def _schema(_: argparse.Namespace) -> int:
    from subgraph.api.schema import build_schema

    sys.stdout.write(build_schema(get_settings()).sdl + "\n")
    return 0


def _token(args: argparse.Namespace) -> int:
    from subgraph.auth.issuing import issue_token

    print(issue_token(get_settings(), subject=args.sub, roles=args.role, ttl_seconds=args.ttl))
    return 0


def _relay(args: argparse.Namespace) -> int:
    import uvloop

    from subgraph.messaging.runtime import run_until_signalled
    from subgraph.parent_death import die_with_parent, exit_now_done

    die_with_parent()

    settings = get_settings()
    if settings.rabbitmq_url is None:
        print("RABBITMQ_URL is not set: nothing to relay to", file=sys.stderr)
        return 2
    if args.no_relay and args.no_consume:
        print("--no-relay with --no-consume leaves nothing to do", file=sys.stderr)
        return 2
    # uvloop, as the HTTP workers use: the relay spends much of its time in the event loop.
    uvloop.run(run_until_signalled(settings, relay=not args.no_relay, consume=not args.no_consume))
    exit_now_done(0)  # not waiting forever for a thread a library left behind


def _asyncapi(args: argparse.Namespace) -> int:
    from subgraph.messaging.asyncapi import document_text

    sys.stdout.write(document_text(get_settings(), args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders-subgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the GraphQL subgraph over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument(
        "--no-migrate", action="store_true", help="do not apply pending migrations first"
    )
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        run=_migrate
    )
    commands.add_parser("schema", help="print the subgraph SDL").set_defaults(run=_schema)

    token = commands.add_parser("token", help="print a token signed with the HS secret")
    token.add_argument("--sub", required=True, help="the user id (subject)")
    token.add_argument("--role", action="append", default=[], help="a role, e.g. admin")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(run=_token)

    relay = commands.add_parser(
        "relay", help="publish the outbox to RabbitMQ and consume inventory results"
    )
    relay.add_argument(
        "--no-consume", action="store_true", help="only relay the outbox; consume nothing"
    )
    relay.add_argument(
        "--no-relay", action="store_true", help="only consume inventory results; publish nothing"
    )
    relay.set_defaults(run=_relay)

    asyncapi = commands.add_parser("asyncapi", help="print the AsyncAPI document of the events")
    asyncapi.add_argument("--format", choices=("yaml", "json"), default="yaml")
    asyncapi.set_defaults(run=_asyncapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    use_package_conf()
    args = build_parser().parse_args(argv)
    try:
        _configure_logging()
        return int(args.run(args))
    except ConfigurationError as error:
        print(f"orders-subgraph: {error}", file=sys.stderr)
    except ValidationError as error:
        # Names and reasons only: the offending input could be a secret.
        reasons = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']).upper() or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        print(f"orders-subgraph: invalid settings: {reasons}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

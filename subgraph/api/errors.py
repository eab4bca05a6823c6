"""GraphQL errors with the `extensions.code` clients and routers act on, and error masking.

Domain outcomes are payloads (`success: false`), not errors; see `mutations`. What is raised
here is what the contract makes a GraphQL error. Anything else is masked before it leaves, and
every error that leaves carries a code (parse and validation errors get Apollo's codes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from graphql import GraphQLError
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from strawberry.extensions import SchemaExtension

from subgraph.ports import StorageUnavailable

logger = logging.getLogger("subgraph.errors")


class ClientError(GraphQLError):
    """An error meant for the client, shown as is with its code."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    code = "FORBIDDEN"


class BadUserInput(ClientError):
    code = "BAD_USER_INPUT"


class KeyReused(ClientError):
    """placeOrder's idempotencyKey already placed a different order."""

    code = "IDEMPOTENCY_KEY_REUSED"


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that is not a GraphQL error: a bug or an outage, never shown as is."""
    # Parse and validation errors have no original error; ours are ClientErrors.
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def has_code(error: GraphQLError) -> bool:
    return bool(error.extensions and "code" in error.extensions)


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """A copy of `error` with `code`: validation results are cached and shared, never edit them."""
    return GraphQLError(
        message=error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": code},
    )


def masked(error: GraphQLError, request_id: str) -> GraphQLError:
    """Log the unexpected error in full; the client gets only the request id to quote.

    The database being unreachable is not a bug: SERVICE_UNAVAILABLE with `retryable: true`,
    logged once at WARNING without a traceback.
    """
    if isinstance(error.original_error, StorageUnavailable):
        return unavailable(error, request_id)
    logger.error(
        "unexpected error in %s (request id %s)",
        ".".join(str(p) for p in error.path or ()) or "the operation",
        request_id,
        exc_info=error.original_error,
    )
    return GraphQLError(
        message=f"Internal server error (request id {request_id})",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL, "requestId": request_id},
    )


def unavailable(error: GraphQLError, request_id: str) -> GraphQLError:
    """The client may try again: the database could not be reached (see ports)."""
    logger.warning(
        "%s: %s (request id %s)",
        ".".join(str(p) for p in error.path or ()) or "the operation",
        error.original_error,
        request_id,
    )
    return GraphQLError(
        message=f"Service temporarily unavailable, try again (request id {request_id})",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": UNAVAILABLE, "retryable": True, "requestId": request_id},
    )


class MaskUnexpectedErrors(SchemaExtension):
    """Replace unexpected errors by a message with the request id, and give every error a code.

    Errors graphql-core raises itself are coded by phase: a syntax or size error in the
    document GRAPHQL_PARSE_FAILED, a validation rule (depth, aliases, introspection, unknown
    fields) GRAPHQL_VALIDATION_FAILED, and a variable that cannot be coerced BAD_USER_INPUT.
    What Strawberry's MaskErrors does, through the public hook only (no streamed results here:
    the schema has no subscriptions, @defer or @stream).
    """

    def __init__(self) -> None:
        # Set by the subclass's on_execute: errors after it are the variables', before it the
        # validation's.
        self.executed = False

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors:
            request_id = request_id_of(self.execution_context.context)
            result.errors = [  # type: ignore[union-attr]
                masked(error, request_id) if is_unexpected(error) else self._coded(error)
                for error in errors
            ]

    def _coded(self, error: GraphQLError) -> GraphQLError:
        if has_code(error):
            return error
        if self.execution_context.graphql_document is None:
            return with_code(error, PARSE_FAILED)
        if not self.executed:
            return with_code(error, VALIDATION_FAILED)
        return with_code(error, BadUserInput.code)


def request_id_of(context: Any) -> str:
    return str(getattr(context, "request_id", "unknown"))


def body_too_large(limit: int) -> Callable[[Request[Any, Any, Any], HTTPException], Response[Any]]:
    """Litestar's 413 as a GraphQL-shaped error, so clients read it like every other refusal."""

    def handle(_: Request[Any, Any, Any], __: HTTPException) -> Response[Any]:
        error = {
            "message": f"Request body is larger than the {limit} bytes accepted",
            "extensions": {"code": "PAYLOAD_TOO_LARGE"},
        }
        return Response({"errors": [error]}, status_code=HTTP_413_REQUEST_ENTITY_TOO_LARGE)

    return handle

"""GraphQL errors with the `extensions.code` clients and routers act on, and error masking.

Domain outcomes are payloads (`success: false`), not errors; see `mutations`. What is raised
here is what the contract makes a GraphQL error. Anything else is masked before it leaves.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

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


def _is_unexpected(error: GraphQLError) -> bool:
    # Parse and validation errors have no original error; ours are ClientErrors.
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """Replace unexpected errors by a message with the request id, and log them in full."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = _request_id(self.execution_context.context)
        logger.error(
            "unexpected error in %s (request id %s)",
            ".".join(str(p) for p in error.path or ()),
            request_id,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"Internal server error (request id {request_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


def _request_id(context: Any) -> str:
    return str(getattr(context, "request_id", "unknown"))

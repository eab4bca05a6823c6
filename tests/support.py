"""Helpers the tests share: tokens and a GraphQL call over the test client."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt


async def gql(
    client: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST one GraphQL operation; assert the HTTP layer answered 200 and return the body."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def make_token(sub: str | int, *, admin: bool = False, **claims: Any) -> str:
    """A valid token for `sub`, signed with the test secret."""

    now = int(time.time())
    payload: dict[str, Any] = {"sub": str(sub), "iat": now, "exp": now + 600}
    if admin:
        payload["roles"] = ["admin"]
    payload.update(claims)
    return jwt.encode(payload, os.environ["JWT_SECRET_KEY"], algorithm="HS256")


def bearer(sub: str | int, *, admin: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(sub, admin=admin)}"}


ADMIN = bearer("admin-1", admin=True)

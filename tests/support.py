"""Helpers the tests share: tokens, a GraphQL call over the test client, ports and processes."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import asyncpg
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


def child_processes(parent: int) -> list[tuple[int, list[bytes]]]:
    """The live children of `parent` (Linux /proc): each pid with its command line's words."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(ppid) == parent:
            found.append((int(entry.name), command))
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def post_graphql_sync(url: str, query: str, token: str | None = None) -> dict[str, Any]:
    """POST one operation to a served process; the JSON body (HTTP 200 asserted)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(url, json={"query": query}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def rows(db: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of one query, on a connection of its own (what a test checks after the fact)."""
    connection = await asyncpg.connect(db)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()

"""Tokens and the secret never reach the logs, whatever a request carries or however it fails."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt
import pytest

from subgraph.auth import redact
from tests.security.conftest import collected_logs
from tests.support import make_token

SECRET = os.environ["JWT_SECRET_KEY"]


async def test_no_request_writes_its_token_or_the_secret_to_the_logs(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from subgraph import service

    valid = make_token("7")
    tokens = [
        valid,
        make_token("7", exp=int(time.time()) - 3600),
        jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, "wrong-" + "k" * 40, "HS256"),
        jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, None, algorithm="none"),
        "not.a-jwt.at-all-but-still-secret",
    ]
    place = 'mutation { placeOrder(userId: "8", productId: "1", quantity: 1) { success } }'

    async def explode(**_: Any) -> Any:
        raise RuntimeError("the database went away")

    with collected_logs() as logs:
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            await client.post("/graphql", json={"query": "{ getOrders { id } }"}, headers=headers)
            await client.post("/graphql", json={"query": place}, headers=headers)  # FORBIDDEN
            await client.post(
                f"/graphql?access_token={token}", json={"query": "{ getOrder(id: 1) { id } }"}
            )
        monkeypatch.setattr(service, "list_orders", explode)
        await client.post(
            "/graphql",
            json={"query": "{ getOrders { id } }"},
            headers={"Authorization": f"Bearer {valid}", "X-Request-Id": "hygiene-1"},
        )

    # httpx is the test's own client logging the URL it sent; everything else is the server.
    server_logs = logs.text(excluding=("httpx",))
    assert "unexpected error in getOrders (request id hygiene-1)" in server_logs
    assert "the database went away" in server_logs  # the traceback is logged, server side
    for secret in [*tokens, SECRET]:
        assert secret not in server_logs


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '127.0.0.1:5 - "POST /graphql?access_token=abc.def&x=1 HTTP/1.1" 200',
            '127.0.0.1:5 - "POST /graphql?access_token=[redacted]&x=1 HTTP/1.1" 200',
        ),
        ("GET /?Token=opaque-value", "GET /?Token=[redacted]"),
        ("bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2ln seen", "bearer [redacted] seen"),
        ("alg none: eyJhbGciOiJub25lIn0.eyJzdWIiOiI3In0. end", "alg none: [redacted] end"),
        ("GET /graphql?tokens_seen=3 HTTP/1.1", "GET /graphql?tokens_seen=3 HTTP/1.1"),
    ],
)
def test_redaction_hides_tokens_and_keeps_the_rest_of_the_line(line: str, expected: str) -> None:
    assert redact(line) == expected

"""Keys, tokens and servers for the security tests: RSA keys made here, a JWKS endpoint on
127.0.0.1, and apps built with settings other than the default HS secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

QUERY = "{ getOrders { id userId } }"


@dataclass(frozen=True)
class KeyPair:
    """An RSA key made for this run, with the `kid` it is published under."""

    kid: str
    private: rsa.RSAPrivateKey

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def jwk(self) -> dict[str, Any]:
        key: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**key, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, **claims: Any) -> str:
        return jwt.encode(
            claims_with_defaults(claims), self.private, algorithm="RS256", headers={"kid": self.kid}
        )


def claims_with_defaults(claims: dict[str, Any]) -> dict[str, Any]:
    """`sub` 7, issued now, valid ten minutes, unless `claims` say otherwise (None drops one)."""
    now = int(time.time())
    merged = {"sub": "7", "iat": now, "exp": now + 600, **claims}
    return {k: v for k, v in merged.items() if v is not None}


def hand_signed_hs256(secret: bytes, claims: dict[str, Any], *, kid: str | None = None) -> str:
    """An HS256 token built by hand: PyJWT itself refuses to use a PEM key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    fields = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    header = part(json.dumps(fields).encode())
    payload = part(json.dumps(claims_with_defaults(claims)).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


@pytest.fixture(scope="session")
def trusted_key() -> KeyPair:
    return KeyPair("trusted-1", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def stranger_key() -> KeyPair:
    return KeyPair("stranger", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose key set a test can change, counting its fetches."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    url: str = ""


@pytest.fixture
def jwks_server(trusted_key: KeyPair) -> Iterator[JwksServer]:
    state = JwksServer(keys=[trusted_key.jwk()])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


class Collector(logging.Handler):
    """Keeps every record it sees; installed after the app is built, because Litestar's
    logging set-up at app creation replaces the root handlers (pytest's caplog among them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self, *, excluding: tuple[str, ...] = ()) -> str:
        """Every message and traceback, from loggers other than `excluding`."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(
            formatter.format(r) for r in self.records if not r.name.startswith(excluding)
        )


@contextmanager
def collected_logs() -> Iterator[Collector]:
    root = logging.getLogger()
    collector = Collector()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)

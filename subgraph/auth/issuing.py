"""Minting tokens with the configured HS secret: the CLI's `token` command, scripts and tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt

from subgraph.auth.verification import HMAC_ALGORITHMS, signing_secret
from subgraph.settings import ConfigurationError, Settings


def issue_token(
    settings: Settings, *, subject: str, roles: Iterable[str] = (), ttl_seconds: int = 3600
) -> str:
    """A token signed with the configured HS secret, for GraphiQL, scripts and tests."""
    if settings.jwt_jwks_url or settings.jwt_public_key:
        raise ConfigurationError(
            "this instance accepts tokens signed by your issuer's private key "
            "(JWT_PUBLIC_KEY / JWT_JWKS_URL); mint them there, not with `token`"
        )
    if ttl_seconds <= 0:
        raise ConfigurationError("--ttl must be a positive number of seconds")
    now = int(time.time())
    algorithm = next((a for a in settings.jwt_algorithms if a in HMAC_ALGORITHMS), "HS256")
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
    if roles:
        claims[settings.jwt_roles_claim] = list(roles)
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, signing_secret(settings), algorithm=algorithm)

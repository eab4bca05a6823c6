"""Verify bearer tokens with PyJWT and turn their claims into a Principal. No web framework here.

The accepted algorithms are pinned by configuration and must match the key kind: an HS secret
accepts only HS*, a public key or JWKS only asymmetric algorithms. That closes `alg: none` and
the classic "HS256 signed with the public key" confusion.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import jwt
from jwt import PyJWKClient

from subgraph.domain.access import Principal
from subgraph.settings import Settings

logger = logging.getLogger("subgraph.auth")

DEVELOPMENT_SECRET = "orders-subgraph-development-secret-not-for-production"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ADMIN_ROLE = "admin"
ADMIN_SCOPE = "orders:admin"
JWKS_TIMEOUT_SECONDS = 5


class AuthenticationFailed(Exception):
    """The request carries no usable credentials; the message is a short, token-free reason."""


class ConfigurationError(Exception):
    """The authentication settings cannot work (or are unsafe for production)."""


class TokenVerifier:
    """Checks `Authorization: Bearer <jwt>` headers against the configured key."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._algorithms = list(dict.fromkeys(settings.jwt_algorithms))
        self._jwks: PyJWKClient | None = None
        self._public_key: str | None = None
        self._secret: str | None = None
        if settings.jwt_jwks_url:
            self._jwks = PyJWKClient(
                settings.jwt_jwks_url, cache_keys=True, timeout=JWKS_TIMEOUT_SECONDS
            )
            self._require(ASYMMETRIC_ALGORITHMS, "JWT_JWKS_URL")
        elif settings.jwt_public_key:
            self._public_key = settings.jwt_public_key.replace("\\n", "\n")
            self._require(ASYMMETRIC_ALGORITHMS, "JWT_PUBLIC_KEY")
        else:
            self._secret = signing_secret(settings)
            self._require(HMAC_ALGORITHMS, "JWT_SECRET_KEY")

    def _require(self, allowed: Iterable[str], source: str) -> None:
        wrong = [a for a in self._algorithms if a not in allowed]
        if not self._algorithms or wrong:
            raise ConfigurationError(
                f"JWT_ALGORITHMS {self._algorithms} do not fit the key from {source}; "
                f"allowed: {sorted(allowed)}"
            )

    async def verify_header(self, header: str | None) -> Principal:
        """The principal named by a valid bearer token, else AuthenticationFailed."""
        if not header:
            raise AuthenticationFailed(
                "Authentication required: send Authorization: Bearer <token>"
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("Authorization header must be: Bearer <token>")
        if self._jwks is not None:
            # PyJWKClient fetches over blocking HTTP (with a timeout): keep it off the event loop.
            return await asyncio.to_thread(self.verify_token, token)
        return self.verify_token(token)

    def verify_token(self, token: str) -> Principal:
        settings = self._settings
        try:
            key: Any = self._key_for(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=self._algorithms,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_seconds,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": settings.jwt_audience is not None,
                    "verify_iss": settings.jwt_issuer is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("Token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationFailed("Token is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed("Token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed("Token issuer is not accepted") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthenticationFailed(f"Token lacks the {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationFailed("Token signature is invalid") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationFailed("Token algorithm is not accepted") from None
        except (jwt.PyJWKClientError, jwt.PyJWKClientConnectionError):
            raise AuthenticationFailed("Token signing key is unknown") from None
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("Token is malformed or invalid") from None
        return principal_from_claims(claims, roles_claim=settings.jwt_roles_claim)

    def _key_for(self, token: str) -> Any:
        if self._jwks is not None:
            # Unknown `kid`s make PyJWKClient refetch the set once before giving up.
            return self._jwks.get_signing_key_from_jwt(token).key
        return self._public_key if self._public_key is not None else self._secret


def principal_from_claims(claims: dict[str, Any], *, roles_claim: str) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, (str, int)) or isinstance(subject, bool) or str(subject) == "":
        raise AuthenticationFailed("Token subject is missing or invalid")
    return Principal(user_id=str(subject), is_admin=_is_admin(claims, roles_claim))


def _is_admin(claims: dict[str, Any], roles_claim: str) -> bool:
    roles = _words(claims.get(roles_claim))
    return ADMIN_ROLE in roles or ADMIN_SCOPE in _words(claims.get("scope"))


def _words(value: Any) -> set[str]:
    """A claim given as a list or as a space-separated string, as a set of words."""
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


def signing_secret(settings: Settings) -> str:
    """The HS secret; in development a fixed, loudly logged one so the quick start works."""
    if settings.jwt_secret_key is not None and settings.jwt_secret_key.get_secret_value():
        return settings.jwt_secret_key.get_secret_value()
    if settings.app_env == "production":
        raise ConfigurationError("JWT_SECRET_KEY (or JWT_PUBLIC_KEY / JWT_JWKS_URL) is required")
    logger.warning(
        "JWT_SECRET_KEY is not set: using the built-in DEVELOPMENT secret. "
        "Anyone can mint tokens for this instance; set JWT_SECRET_KEY before exposing it."
    )
    return DEVELOPMENT_SECRET


def issue_token(
    settings: Settings, *, subject: str, roles: Iterable[str] = (), ttl_seconds: int = 3600
) -> str:
    """A token signed with the configured HS secret, for GraphiQL, scripts and tests."""
    import time

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

"""Verify bearer tokens with PyJWT and turn their claims into a Principal. No web framework here.

The accepted algorithms are pinned by configuration and must match the key kind: an HS secret
accepts only HS*, a public key or JWKS only asymmetric algorithms. That closes `alg: none` and
the classic "HS256 signed with the public key" confusion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient
from jwt.algorithms import get_default_algorithms

from subgraph.domain.access import Principal
from subgraph.settings import ConfigurationError, Settings

logger = logging.getLogger("subgraph.auth")

DEVELOPMENT_SECRET = "orders-subgraph-development-secret-not-for-production"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ADMIN_ROLE = "admin"
ADMIN_SCOPE = "orders:admin"
JWKS_TIMEOUT_SECONDS = 5
VERIFIED_TTL_SECONDS = 300.0  # for a fixed key: bounds how long a cached entry is trusted

Clock = Callable[[], float]  # epoch seconds; time.time in service, a fake in tests


class AuthenticationFailed(Exception):
    """The request carries no usable credentials; the message is a short, token-free reason."""


@dataclass(frozen=True)
class Validity:
    """The window (epoch seconds, leeway included) in which a verified token is accepted."""

    not_before: float
    expires: float


class VerifiedTokens:
    """Tokens verified recently, so a client's every request does not pay for the signature.

    Bounded (least recently used out) and each entry lives at most `ttl` seconds and never past
    the token's own `exp`, so caching never accepts a token that verifying would refuse, except
    one whose JWKS key was withdrawn within the last `ttl` (the JWK set's own cache lifetime).
    Used from the event loop only.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()

    def get(self, token: str, now: float) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, not_before, until = entry
        if not not_before <= now < until:
            del self._entries[token]  # verifying again gives the right error
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, valid: Validity, now: float) -> None:
        if self.size <= 0:
            return
        self._entries[token] = (principal, valid.not_before, min(valid.expires, now + self.ttl))
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class TokenVerifier:
    """Checks `Authorization: Bearer <jwt>` headers against the configured key."""

    def __init__(self, settings: Settings, *, clock: Clock = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._algorithms = list(dict.fromkeys(settings.jwt_algorithms))
        self._jwks: PyJWKClient | None = None
        self._key: Any = None
        # A JWKS key can be withdrawn: a verified token is re-checked as often as the set is.
        self._verified = VerifiedTokens(
            settings.jwt_verified_cache_size,
            settings.jwt_jwks_cache_seconds if settings.jwt_jwks_url else VERIFIED_TTL_SECONDS,
        )
        if settings.jwt_jwks_url:
            self._require(ASYMMETRIC_ALGORITHMS, "JWT_JWKS_URL")
            try:
                self._jwks = PyJWKClient(
                    settings.jwt_jwks_url,
                    # No per-kid cache: it never expires, so a key withdrawn from the set
                    # would stay trusted. The whole set is cached for a bounded time instead.
                    cache_keys=False,
                    lifespan=settings.jwt_jwks_cache_seconds,
                    cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
                    timeout=JWKS_TIMEOUT_SECONDS,
                )
            except jwt.PyJWKClientError as error:
                raise ConfigurationError(f"JWT_JWKS_URL is not usable: {error}") from None
        elif settings.jwt_public_key:
            self._require(ASYMMETRIC_ALGORITHMS, "JWT_PUBLIC_KEY")
            self._key = _public_key(settings.jwt_public_key, self._algorithms)
        else:
            self._require(HMAC_ALGORITHMS, "JWT_SECRET_KEY")
            self._key = signing_secret(settings)

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
        now = self._clock()
        known = self._verified.get(token, now)
        if known is not None:
            return known
        if self._jwks is not None:
            # PyJWKClient fetches over blocking HTTP (with a timeout): keep it off the event loop.
            principal, valid = await asyncio.to_thread(self._verify, token)
        else:
            principal, valid = self._verify(token)
        self._verified.put(token, principal, valid, now)
        return principal

    def verify_token(self, token: str) -> Principal:
        """The principal of a valid token; any failure is AuthenticationFailed, never echoing it."""
        return self._verify(token)[0]

    def _verify(self, token: str) -> tuple[Principal, Validity]:
        settings = self._settings
        leeway = settings.jwt_leeway_seconds
        try:
            # PyJWT reads the time itself, so the time claims are checked here against our
            # clock, in PyJWT's order (signature and required claims; iat, nbf, exp; then iss,
            # aud, sub), and a token with several faults gets the same reason as before.
            claims = jwt.decode(
                token,
                key=self._key_for(token),
                algorithms=self._algorithms,
                options={
                    "require": ["exp", "sub"],
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_exp": False,
                    "verify_iss": False,
                    "verify_aud": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
            valid = _validity(claims, now=self._clock(), leeway=leeway)
            jwt.decode(
                token,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                options={
                    "verify_signature": False,
                    "verify_aud": settings.jwt_audience is not None,
                    "verify_iss": settings.jwt_issuer is not None,
                    "verify_sub": True,
                    "verify_jti": True,
                },
            )
        except jwt.PyJWTError as error:
            raise AuthenticationFailed(_reason(error)) from None
        return principal_from_claims(claims, roles_claim=settings.jwt_roles_claim), valid

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            # The PyJWK binds the key to its own algorithm; an unknown `kid` refetches the
            # set once per cooldown before giving up.
            return self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            logger.warning("cannot fetch the JWK set from JWT_JWKS_URL: %s", error)
            raise
        except ValueError as error:  # a JWKS response that is not JSON
            logger.warning("the JWK set from JWT_JWKS_URL is unreadable: %s", error)
            raise jwt.PyJWKClientConnectionError("unreadable JWK set") from None


def _validity(claims: dict[str, Any], *, now: float, leeway: float) -> Validity:
    """The token's window at `now`, with PyJWT's checks and errors for iat, nbf and exp."""
    if "iat" in claims:
        issued = _seconds(claims["iat"], jwt.InvalidIssuedAtError("iat must be an integer"))
        if issued > now + leeway:
            raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
    not_before = float("-inf")
    if "nbf" in claims:
        not_before = _seconds(claims["nbf"], jwt.DecodeError("nbf must be an integer")) - leeway
        if not_before > now:
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    expires = _seconds(claims["exp"], jwt.DecodeError("exp must be an integer")) + leeway
    if expires <= now:
        raise jwt.ExpiredSignatureError("Signature has expired")
    return Validity(not_before, expires)


def _seconds(value: Any, invalid: jwt.PyJWTError) -> int:
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise invalid from None


_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "Token has expired"),
    (jwt.ImmatureSignatureError, "Token is not yet valid"),
    (jwt.InvalidAudienceError, "Token audience is not accepted"),
    (jwt.InvalidIssuerError, "Token issuer is not accepted"),
    (jwt.InvalidSignatureError, "Token signature is invalid"),
    (jwt.InvalidAlgorithmError, "Token algorithm is not accepted"),
    (jwt.exceptions.InvalidSubjectError, "Token subject must be a non-empty string"),
    (jwt.PyJWKClientConnectionError, "Token signing keys cannot be fetched right now"),
    (jwt.PyJWKClientError, "Token signing key is unknown"),
)


def _reason(error: jwt.PyJWTError) -> str:
    """A short reason for the client; PyJWT's own messages are fine but never include the token."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"Token lacks the {error.claim!r} claim"
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "Token is malformed or invalid"


def _public_key(pem: str, algorithms: list[str]) -> Any:
    """The PEM public key, parsed once; it must suit every configured algorithm."""
    text = pem.replace("\\n", "\n").strip()
    key: Any = None
    for name in algorithms:
        try:
            key = get_default_algorithms()[name].prepare_key(text)
        except (jwt.InvalidKeyError, ValueError, TypeError):
            raise ConfigurationError(
                f"JWT_PUBLIC_KEY is not a PEM public key usable with {name}"
            ) from None
        if hasattr(key, "private_bytes"):
            raise ConfigurationError("JWT_PUBLIC_KEY holds a private key: give its public key")
    return key


def principal_from_claims(claims: dict[str, Any], *, roles_claim: str) -> Principal:
    """The caller a verified token names: `sub` is the user id, the roles say admin or not."""
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

"""Tokens: verifying them (`verification`), minting them for the CLI (`issuing`) and keeping
them out of the logs (`redaction`)."""

from subgraph.auth.issuing import issue_token
from subgraph.auth.redaction import RedactTokens, redact
from subgraph.auth.verification import (
    DEVELOPMENT_SECRET,
    AuthenticationFailed,
    TokenVerifier,
    Validity,
    VerifiedTokens,
    principal_from_claims,
    signing_secret,
)
from subgraph.settings import ConfigurationError

__all__ = [
    "DEVELOPMENT_SECRET",
    "AuthenticationFailed",
    "ConfigurationError",
    "RedactTokens",
    "TokenVerifier",
    "Validity",
    "VerifiedTokens",
    "issue_token",
    "principal_from_claims",
    "redact",
    "signing_secret",
]

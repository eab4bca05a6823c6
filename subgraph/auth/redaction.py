"""Keeping tokens out of log lines: an access log would otherwise show `?token=...`."""

from __future__ import annotations

import logging
import re

# A compact JWS (three base64url parts, the first a JSON header) and credential query parameters.
_JWT_SHAPE = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
_CREDENTIAL_PARAMETER = re.compile(
    r"((?:access_token|id_token|token|jwt|authorization)=)[^&\s\"']+", re.IGNORECASE
)
# Observability: an opaque bearer token or an Authorization header's value, e.g. in an
# exception text or a structured (JSON) log field.
_BEARER = re.compile(r"(\bbearer\s+)[^\s\"',;&]+", re.IGNORECASE)
_AUTHORIZATION_HEADER = re.compile(
    r"(\bauthorization[\"']?\s*:\s*[\"']?)(?:[a-z]+\s+)?[^\s\"',;&]+", re.IGNORECASE
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with anything shaped like a token replaced, for log lines."""
    text = _JWT_SHAPE.sub(REDACTED, text)
    text = _AUTHORIZATION_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _CREDENTIAL_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Scrub tokens from log records: an access log line would otherwise show `?token=...`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True

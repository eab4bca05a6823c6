"""Settings that must not serve: production's refusals, unusable keys, the CLI's one-line exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from subgraph.auth import DEVELOPMENT_SECRET, TokenVerifier, issue_token
from subgraph.settings import ConfigurationError, Settings
from tests.security.conftest import KeyPair, collected_logs

REFUSED = "APP_ENV=production refuses to start: "
NO_KEY = "no token key: set JWT_SECRET_KEY, JWT_PUBLIC_KEY or JWT_JWKS_URL"
SHORT = "JWT_SECRET_KEY is shorter than 32 bytes"
INTROSPECTION = (
    "GRAPHQL_INTROSPECTION is on: set GRAPHQL_INTROSPECTION=false, "
    "or GRAPHQL_INTROSPECTION_IN_PRODUCTION=true to keep it on deliberately"
)
GOOD_SECRET = "p" * 32

# Building an app binds Piccolo's engine, which asks the test database for its version.
pytestmark = pytest.mark.usefixtures("postgres_database")


def create_app(settings: Settings) -> Any:
    from subgraph.app import create_app as create  # imported once the test database exists

    return create(settings)


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "production",
        "jwt_secret_key": GOOD_SECRET,
        "graphql_introspection": False,
    }
    return Settings(**{**values, **overrides})


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        ({"jwt_secret_key": None}, [NO_KEY]),
        ({"jwt_secret_key": ""}, [NO_KEY]),
        ({"jwt_secret_key": "s" * 31}, [SHORT]),
        ({"graphql_introspection": True}, [INTROSPECTION]),
        ({"jwt_secret_key": "short-secret", "graphql_introspection": True}, [SHORT, INTROSPECTION]),
    ],
    ids=["no key", "empty key", "31-byte secret", "introspection on", "two problems at once"],
)
def test_production_refuses_unsafe_settings_naming_each_problem(
    overrides: dict[str, Any], problems: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        create_app(production(**overrides))
    assert str(refused.value) == REFUSED + "; ".join(problems)
    assert "short-secret" not in str(refused.value)


def test_a_secret_is_measured_in_bytes_not_characters() -> None:
    create_app(production(jwt_secret_key="é" * 16))  # 32 bytes in UTF-8
    with pytest.raises(ConfigurationError):
        create_app(production(jwt_secret_key="x" * 15 + "é" * 8))  # 31 bytes


def test_production_starts_with_a_long_secret_and_introspection_off() -> None:
    assert create_app(production()) is not None


def test_production_keeps_introspection_when_it_is_explicitly_allowed() -> None:
    settings = production(graphql_introspection=True, graphql_introspection_in_production=True)
    assert create_app(settings) is not None


def test_production_needs_no_secret_with_a_public_key(trusted_key: KeyPair) -> None:
    settings = production(
        jwt_secret_key=None, jwt_public_key=trusted_key.public_pem, jwt_algorithms=["RS256"]
    )
    assert create_app(settings) is not None


def test_development_without_a_secret_uses_a_loudly_logged_development_secret() -> None:
    settings = Settings(app_env="development", jwt_secret_key=None)
    with collected_logs() as logs:
        verifier = TokenVerifier(settings)
    assert "WARNING JWT_SECRET_KEY is not set: using the built-in DEVELOPMENT secret" in logs.text()
    assert DEVELOPMENT_SECRET not in logs.text()
    token = issue_token(settings, subject="1", roles=["admin"])
    principal = verifier.verify_token(token)
    assert (principal.user_id, principal.is_admin) == ("1", True)


def ec_public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"},
            "JWT_PUBLIC_KEY is not a PEM public key usable with RS256",
        ),
        ({"jwt_public_key": "private"}, "JWT_PUBLIC_KEY holds a private key: give its public key"),
        ({"jwt_public_key": "ec"}, "JWT_PUBLIC_KEY is not a PEM public key usable with RS256"),
        (
            {"jwt_public_key": "public", "jwt_algorithms": ["RS256", "HS256"]},
            "JWT_ALGORITHMS ['RS256', 'HS256'] do not fit the key from JWT_PUBLIC_KEY",
        ),
        (
            {"jwt_jwks_url": "http://127.0.0.1:9/jwks", "jwt_algorithms": ["HS256"]},
            "JWT_ALGORITHMS ['HS256'] do not fit the key from JWT_JWKS_URL",
        ),
        (
            {"jwt_jwks_url": "file:///etc/passwd"},
            "JWT_JWKS_URL is not usable",
        ),
        (
            {"jwt_algorithms": ["RS256"]},
            "JWT_ALGORITHMS ['RS256'] do not fit the key from JWT_SECRET_KEY",
        ),
        ({"jwt_algorithms": []}, "JWT_ALGORITHMS [] do not fit the key from JWT_SECRET_KEY"),
    ],
    ids=[
        "garbage PEM",
        "private key",
        "EC key for RS256",
        "HS next to a public key",
        "HS with a JWKS",
        "JWKS from a file",
        "RS with a secret",
        "no algorithm",
    ],
)
def test_keys_that_cannot_work_are_refused_at_start(
    trusted_key: KeyPair, overrides: dict[str, Any], message: str
) -> None:
    pems = {
        "public": trusted_key.public_pem,
        "private": trusted_key.private_pem,
        "ec": ec_public_pem(),
    }
    if overrides.get("jwt_public_key") in pems:
        overrides = {**overrides, "jwt_public_key": pems[overrides["jwt_public_key"]]}
    settings = Settings(**{"jwt_algorithms": ["RS256"], **overrides})
    with pytest.raises(ConfigurationError) as refused:
        create_app(settings)
    assert str(refused.value).startswith(message)


def test_a_public_key_pasted_with_escaped_newlines_is_accepted(trusted_key: KeyPair) -> None:
    one_line = trusted_key.public_pem.replace("\n", "\\n")
    verifier = TokenVerifier(Settings(jwt_public_key=one_line, jwt_algorithms=["RS256"]))
    assert verifier.verify_token(trusted_key.sign(sub="3")).user_id == "3"


# --- the console script ----------------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`orders-subgraph ARGS` in a clean directory (no .env) with the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "GRAPHQL_", "APP_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'orders.sqlite3'}", **environment)
    return subprocess.run(
        [sys.executable, "-m", "subgraph.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_in_production_with_unsafe_settings_exits_with_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", APP_ENV="production", JWT_SECRET_KEY="short-secret")
    assert result.returncode == 2
    assert result.stderr == f"orders-subgraph: {REFUSED}{SHORT}; {INTROSPECTION}\n"
    assert result.stdout == ""
    assert not (tmp_path / "orders.sqlite3").exists()  # refused before migrating


def test_serve_with_unreadable_settings_names_them_without_their_values(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", JWT_LEEWAY_SECONDS="soon", JWT_SECRET_KEY=GOOD_SECRET)
    assert result.returncode == 2
    assert result.stderr.startswith("orders-subgraph: invalid settings: JWT_LEEWAY_SECONDS: ")
    assert "Traceback" not in result.stderr and "soon" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_token_command_in_production_without_a_key_exits_with_one_line(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, "token", "--sub", "1", APP_ENV="production")
    assert result.returncode == 2
    assert result.stderr == (
        "orders-subgraph: JWT_SECRET_KEY (or JWT_PUBLIC_KEY / JWT_JWKS_URL) is required\n"
    )


def test_the_token_command_refuses_when_tokens_come_from_another_issuer(
    tmp_path: Path, trusted_key: KeyPair
) -> None:
    result = run_cli(
        tmp_path,
        "token",
        "--sub",
        "1",
        JWT_PUBLIC_KEY=trusted_key.public_pem,
        JWT_ALGORITHMS='["RS256"]',
    )
    assert result.returncode == 2
    assert "mint them there, not with `token`" in result.stderr


def test_the_token_command_prints_a_token_the_service_accepts(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "token",
        "--sub",
        "7",
        "--role",
        "admin",
        "--ttl",
        "120",
        JWT_SECRET_KEY=GOOD_SECRET,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, GOOD_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["roles"], claims["exp"] - claims["iat"]) == ("7", ["admin"], 120)
    principal = TokenVerifier(Settings(jwt_secret_key=GOOD_SECRET)).verify_token(token)
    assert (principal.user_id, principal.is_admin) == ("7", True)

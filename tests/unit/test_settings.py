"""Configuration: the seed's names keep working, DATABASE_URL wins, SQLite is the default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from subgraph.persistence.engine import make_engine
from subgraph.settings import Settings

SEED_NAMES = (
    "DATABASE_URL",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "JWT_SECRET_KEY",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in SEED_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no stray .env is read


def test_without_a_database_setting_the_embedded_sqlite_file_is_used() -> None:
    settings = Settings()
    assert settings.postgres_dsn is None
    engine = make_engine(settings)
    assert engine.engine_type == "sqlite"
    assert engine.path == "orders.sqlite3"  # type: ignore[attr-defined]


def test_the_seed_postgres_variables_build_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_USER", "shop")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss/word")
    monkeypatch.setenv("POSTGRES_DB", "orders")
    settings = Settings()
    assert settings.postgres_dsn == "postgresql://shop:p%40ss%2Fword@127.0.0.1:5432/orders"
    assert make_engine(settings).engine_type == "postgres"


def test_database_url_wins_over_the_seed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_DB", "ignored")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.internal:6432/orders")
    assert Settings().postgres_dsn == "postgresql://u@db.internal:6432/orders"


def test_a_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    Path("./.env").write_text("JWT_SECRET_KEY=from-dotenv\nDATABASE_URL=sqlite:///x.db\n")
    settings = Settings()
    assert settings.jwt_secret_key is not None
    assert settings.jwt_secret_key.get_secret_value() == "from-dotenv"
    assert make_engine(settings).path == "x.db"  # type: ignore[attr-defined]


def test_an_unsupported_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://u@h/db")
    with pytest.raises(ValueError, match="postgresql:// or sqlite:///"):
        make_engine(Settings())


def test_the_pool_minimum_cannot_exceed_its_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "20")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "5")
    with pytest.raises(ValidationError, match="DB_POOL_MIN_SIZE"):
        Settings()


def test_secrets_are_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", "hunter2")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://guest:topsecret@localhost/")
    text = repr(Settings())
    assert "hunter2" not in text and "topsecret" not in text


@pytest.mark.parametrize(
    "name",
    [
        "RABBITMQ_URL",
        "DATABASE_URL",
        "JWT_JWKS_URL",
        "JWT_PUBLIC_KEY",
        "JWT_SECRET_KEY",
        "POSTGRES_DB",
    ],
)
@pytest.mark.parametrize("empty", ["", "   "])
def test_an_optional_setting_set_but_empty_is_unset(
    monkeypatch: pytest.MonkeyPatch, name: str, empty: str
) -> None:
    monkeypatch.setenv(name, empty)
    assert getattr(Settings(), name.lower()) is None


def test_idempotency_keys_are_kept_at_least_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().idempotency_key_retention_hours == 24
    monkeypatch.setenv("IDEMPOTENCY_KEY_RETENTION_HOURS", "12")
    with pytest.raises(ValidationError, match="idempotency_key_retention_hours"):
        Settings()

"""The settings object: prefixes, database URLs and refusal of weak secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from parley.settings import DEV_SECRET_KEY, MissingSecretError, Settings, normalise_database_url


def test_reads_parley_prefixed_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PARLEY_PORT", "9123")
    monkeypatch.setenv("PARLEY_LIMITS__MAX_UPLOAD_BYTES", "1234")
    settings = Settings(environment="development")
    assert settings.port == 9123
    assert settings.limits.max_upload_bytes == 1234
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'parley.db').resolve()}"
    assert settings.is_sqlite


def test_postgres_urls_use_psycopg3():
    assert normalise_database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_production_has_no_working_default_secret(tmp_path):
    settings = Settings(environment="production", data_dir=tmp_path)
    with pytest.raises(MissingSecretError):
        settings.secret()


def test_production_refuses_short_or_development_secrets(tmp_path):
    with pytest.raises(ValidationError):
        Settings(environment="production", data_dir=tmp_path, secret_key="short")
    with pytest.raises(ValidationError):
        Settings(environment="production", data_dir=tmp_path, secret_key=DEV_SECRET_KEY)


def test_production_reads_the_key_file_created_on_first_start(tmp_path):
    settings = Settings(environment="production", data_dir=tmp_path)
    settings.secret_key_file.write_text("k" * 48)
    assert settings.secret() == "k" * 48


def test_development_mode_falls_back_to_a_throwaway_key(tmp_path):
    assert Settings(environment="development", data_dir=tmp_path).secret() == DEV_SECRET_KEY


@pytest.mark.parametrize("environment", ["production", "development", "test"])
def test_weak_bootstrap_secrets_are_refused_in_every_environment(monkeypatch, environment):
    """The API's policy applies to PARLEY_INIT_*: passwords of 8+ characters, keys of 24+."""
    monkeypatch.setenv("PARLEY_INIT_ADMIN_PASSWORD", "x")
    with pytest.raises(ValidationError, match="PARLEY_INIT_ADMIN_PASSWORD must have between 8"):
        Settings(environment=environment)
    monkeypatch.setenv("PARLEY_INIT_ADMIN_PASSWORD", "change-me-now")
    monkeypatch.setenv("PARLEY_INIT_API_KEY", "abc")
    with pytest.raises(ValidationError, match="PARLEY_INIT_API_KEY must have at least 24"):
        Settings(environment=environment)
    monkeypatch.setenv("PARLEY_INIT_API_KEY", "parley-demo-key-0123456789abcdef")
    assert Settings(environment=environment).bootstrap.api_key is not None

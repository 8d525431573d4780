"""One typed settings object for the whole service, read from ``PARLEY_*`` variables.

Nothing reads the environment at import time: ``Settings()`` is built by the application
factory or the CLI and passed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parley.accounts.secret_policy import check_given_key, check_password
from parley.errors import InvalidInputError

DEV_SECRET_KEY = "parley-development-secret-key-do-not-use-in-production"


class MissingSecretError(RuntimeError):
    pass


class BootstrapSettings(BaseModel):
    """First-start bootstrap: a default organisation, an admin and an API key."""

    admin_email: str | None = None
    admin_password: SecretStr | None = None
    api_key: SecretStr | None = None
    api_key_id: str | None = None
    org_name: str = "Default Organization"


class LimitSettings(BaseModel):
    max_request_bytes: int = 2 * 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    max_items_per_page: int = 500
    default_items_per_page: int = 20


class IngestSettings(BaseModel):
    # Worker threads inside `parley serve`; 0 leaves all jobs to `parley worker` processes.
    workers: int = 1
    embedder: Literal["onnx", "torch", "openai"] = "onnx"
    # For embedder="openai": any OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, TEI,
    # Ollama, llama.cpp's server). The key is read from the environment, never from a file.
    embedder_base_url: str | None = None
    embedder_model: str | None = None
    embedder_api_key: SecretStr | None = None
    embedder_dimension: int | None = None
    embedding_batch_size: int = 32
    # Jobs a worker claims together, so the chunks of small documents share embedding batches.
    documents_per_batch: int = 16
    job_lease_seconds: float = 60.0
    # Web-link documents are stored but not fetched unless this is on; private, loopback and
    # link-local addresses are refused even then, unless the host is listed below.
    allow_web_fetch: bool = False
    web_fetch_allowed_hosts: list[str] = []
    web_fetch_timeout_seconds: float = 15.0
    max_uncompressed_bytes: int = 200 * 1024 * 1024


class ToolSettings(BaseModel):
    # API tools call external HTTP services only when this is on; private, loopback and
    # link-local addresses are refused even then (every resolved address, every redirect),
    # unless the host is listed below.
    allow_outbound_calls: bool = False
    allowed_hosts: list[str] = []
    # A tool's answer is read up to this size; the rest is dropped and the result marked truncated.
    max_response_bytes: int = Field(default=64 * 1024, ge=1)


class AuthSettings(BaseModel):
    access_token_ttl_seconds: int = 7 * 24 * 3600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # For SuperOffice integrations that can only send a ticket: "SoTicket <value>" is checked
    # as a Parley API key or login token. Off: such requests get a 401 that says so.
    accept_soticket: bool = False
    # How long a resolved credential (token or API key -> user, organisation, roles, key scope)
    # is reused without reading the database. This process forgets it at once when it writes a
    # change to keys, tokens, users or teams; other API processes see such a change only after
    # this many seconds (docs/reliability.md). 0 turns the cache off.
    principal_cache_ttl_seconds: float = Field(default=5.0, ge=0, le=60)
    # argon2id cost of new password hashes: argon2-cffi's defaults (RFC 9106 low-memory profile)
    # unless lowered, which only tests should do (a hash takes ~0.3 s at the default cost).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=32)


class SignInSettings(BaseModel):
    """Throttling of password sign-ins (docs/configuration.md). Each account (known or not) and
    each client address may fail this many times for free; every further failure refuses the
    subject's sign-ins for twice as long as the last (from ``first_lockout_seconds`` up to
    ``max_lockout_seconds``), with 429 and Retry-After, before any password is checked.
    Failures are forgotten after ``forget_after_seconds`` without one, and an account's on its
    next successful sign-in."""

    free_failures_per_account: int = Field(default=5, ge=1)
    # Higher: many people may sign in from behind one address (an office, a proxy).
    free_failures_per_address: int = Field(default=20, ge=1)
    first_lockout_seconds: float = Field(default=1.0, gt=0)
    max_lockout_seconds: float = Field(default=900.0, gt=0)
    forget_after_seconds: float = Field(default=3600.0, gt=0)


class EndpointSettings(BaseModel):
    """Operational endpoints that need no API credential (docs/configuration.md)."""

    # /docs, /redoc and /openapi.json. Unset: served in development and test, not in production.
    api_docs: bool | None = None
    # /metrics asks for "Authorization: Bearer <token>" when this is set. Unset: /metrics is open
    # in development and test, and not served in production.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["development", "production", "test"] = "production"
    data_dir: Path = Path("./parley-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under data_dir when unset."
    )
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    run_migrations_on_start: bool = True

    # Flat bootstrap variables, as documented: PARLEY_INIT_ADMIN_EMAIL etc.
    init_admin_email: str | None = None
    init_admin_password: SecretStr | None = None
    init_api_key: SecretStr | None = None
    init_api_key_id: str | None = None
    init_org_name: str = "Default Organization"

    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    sign_in: SignInSettings = SignInSettings()
    ingest: IngestSettings = IngestSettings()
    tools: ToolSettings = ToolSettings()
    endpoints: EndpointSettings = EndpointSettings()

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.secret_key is not None and self.environment == "production":
            value = self.secret_key.get_secret_value()
            if value == DEV_SECRET_KEY or len(value) < 32:
                raise ValueError(
                    "PARLEY_SECRET_KEY must be at least 32 characters and not the development key."
                )
        # Checked on every start, so a weak value is refused even where an older version took it.
        try:
            if self.init_admin_password is not None:
                check_password(self.init_admin_password.get_secret_value(), "PARLEY_INIT_ADMIN_PASSWORD")
            if self.init_api_key is not None:
                check_given_key(self.init_api_key.get_secret_value(), "PARLEY_INIT_API_KEY")
        except InvalidInputError as exc:
            raise ValueError(exc.message) from exc
        return self

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret_key"

    def secret(self) -> str:
        """The server secret: from the environment, else the key file made on first start.

        Only development and test mode fall back to a fixed throwaway key.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.secret_key_file.exists():
            return self.secret_key_file.read_text().strip()
        if self.environment != "production":
            return DEV_SECRET_KEY
        raise MissingSecretError(
            "No server secret: set PARLEY_SECRET_KEY (32+ characters) or run `parley serve`, "
            f"which creates {self.secret_key_file} on first start."
        )

    @property
    def serves_api_docs(self) -> bool:
        if self.endpoints.api_docs is not None:
            return self.endpoints.api_docs
        return self.environment != "production"

    @property
    def serves_metrics(self) -> bool:
        return self.endpoints.metrics_token is not None or self.environment != "production"

    @property
    def bootstrap(self) -> BootstrapSettings:
        return BootstrapSettings(
            admin_email=self.init_admin_email,
            admin_password=self.init_admin_password,
            api_key=self.init_api_key,
            api_key_id=self.init_api_key_id,
            org_name=self.init_org_name,
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'parley.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url

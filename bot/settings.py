"""One typed settings object, read once at start from the environment (and a `.env` file if present)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .limits import Limits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default=Path(".flowpilot"), validation_alias="FLOWPILOT_DATA_DIR")
    # Every connection one process opens to PostgreSQL, the change listener's included (the pool holds one
    # fewer): processes × this must stay under the server's max_connections (README, Deploying).
    db_pool_size: int = Field(default=10, ge=2, validation_alias="FLOWPILOT_DB_POOL_SIZE")
    # DATABASE_URL is PgBouncer in transaction mode: no statement relies on a server session outliving it.
    db_pgbouncer: bool = Field(default=False, validation_alias="FLOWPILOT_DB_PGBOUNCER")
    # Where what needs a session of its own (LISTEN, the liveness lock) and migrations connect: PostgreSQL
    # itself or a session-mode PgBouncer port. Unset: DATABASE_URL.
    db_direct_url: str | None = Field(default=None, validation_alias="FLOWPILOT_DB_DIRECT_URL")
    port: int = Field(default=3000, validation_alias="PORT")
    host: str = Field(default="0.0.0.0", validation_alias="FLOWPILOT_HOST")

    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    # None: the newest Sonnet in the installed SDK (bot.anthropic_claude.newest_sonnet), looked up only by a
    # process that talks to Claude: importing the SDK costs over a second `flowpilot flows|psa …` need not pay.
    model: str | None = Field(default=None, validation_alias="FLOWPILOT_MODEL")
    claude_timeout: float = Field(default=60.0, validation_alias="FLOWPILOT_CLAUDE_TIMEOUT")
    claude_max_retries: int = Field(default=2, validation_alias="FLOWPILOT_CLAUDE_MAX_RETRIES")

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")

    teams_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID")
    )
    teams_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET")
    )
    teams_tenant_id: str | None = Field(
        default=None, validation_alias=AliasChoices("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID")
    )

    # Teams without credentials: accept unauthenticated activities from local serviceUrls (Agents Playground).
    teams_anonymous: bool = Field(default=False, validation_alias="FLOWPILOT_TEAMS_ANONYMOUS")

    api_tokens: SecretStr | None = Field(default=None, validation_alias="FLOWPILOT_API_TOKENS")

    # How long one turn may hold a session before another process may take it over.
    lease_seconds: float = Field(default=90.0, validation_alias="FLOWPILOT_LEASE_SECONDS")
    # How long a command waits for the turn before it tells the user the session is busy.
    lease_wait_seconds: float = Field(default=300.0, validation_alias="FLOWPILOT_LEASE_WAIT_SECONDS")
    # Graceful shutdown: how long turns in flight may take to finish.
    shutdown_grace_seconds: float = Field(default=20.0, validation_alias="FLOWPILOT_SHUTDOWN_GRACE_SECONDS")
    # Limits per minute, in each process (0: no limit): new sessions and Claude turns, per engineer and per
    # workspace (bot/limits.py).
    sessions_per_user_per_minute: int = Field(
        default=10, ge=0, validation_alias="FLOWPILOT_SESSIONS_PER_USER_PER_MINUTE"
    )
    sessions_per_workspace_per_minute: int = Field(
        default=100, ge=0, validation_alias="FLOWPILOT_SESSIONS_PER_WORKSPACE_PER_MINUTE"
    )
    turns_per_user_per_minute: int = Field(
        default=30, ge=0, validation_alias="FLOWPILOT_TURNS_PER_USER_PER_MINUTE"
    )
    turns_per_workspace_per_minute: int = Field(
        default=600, ge=0, validation_alias="FLOWPILOT_TURNS_PER_WORKSPACE_PER_MINUTE"
    )
    # PSA connections: the key their credentials are encrypted with (Fernet), and the write-back job's
    # patience (bot/psa_writeback.py): first retry after this many seconds, doubling, for so many attempts.
    secret_key: SecretStr | None = Field(default=None, validation_alias="FLOWPILOT_SECRET_KEY")
    psa_retry_seconds: float = Field(default=2.0, gt=0, validation_alias="FLOWPILOT_PSA_RETRY_SECONDS")
    psa_attempts: int = Field(default=6, ge=1, validation_alias="FLOWPILOT_PSA_ATTEMPTS")
    # How long one PSA request may take before it counts as a timeout (retried by the write-back).
    psa_timeout_seconds: float = Field(default=15.0, gt=0, validation_alias="FLOWPILOT_PSA_TIMEOUT_SECONDS")
    # A job whose worker stopped sending heartbeats this long ago (a killed process) is picked up again.
    job_heartbeat_seconds: float = Field(
        default=30.0, gt=0, validation_alias="FLOWPILOT_JOB_HEARTBEAT_SECONDS"
    )
    # Who you are in `flowpilot shell` (default: your OS user name).
    shell_user: str | None = Field(default=None, validation_alias="FLOWPILOT_SHELL_USER")
    log_level: str = Field(default="INFO", validation_alias="FLOWPILOT_LOG_LEVEL")

    @property
    def limits(self) -> Limits:
        return Limits(
            sessions_per_user=self.sessions_per_user_per_minute,
            sessions_per_workspace=self.sessions_per_workspace_per_minute,
            turns_per_user=self.turns_per_user_per_minute,
            turns_per_workspace=self.turns_per_workspace_per_minute,
        )

    @property
    def claude_configured(self) -> bool:
        return self.anthropic_api_key is not None and bool(self.anthropic_api_key.get_secret_value())

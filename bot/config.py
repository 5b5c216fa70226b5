"""Process settings, read from the environment and an optional ``.env`` file.

Built once by the entry point and passed down; nothing reads the environment at import
time. Provider settings (``<NAME>_API_KEY``, ``<NAME>_BASE_URL``, ``<NAME>_MODEL``) are read
per registered provider, so adding a provider never touches this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

ENV_FILE = ".env"


class ProviderSettings(BaseSettings):
    """One provider's key, base URL and default model (read with an ``env_prefix``)."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str | None = None


class Settings(BaseSettings):
    """Everything the bot process needs besides the per-provider settings."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    dev_guild_id: int | None = None
    database_path: Path = Path("data/seedream-bot.sqlite3")
    # NoDecode: PROVIDERS is "poyo,apiyi", not JSON.
    providers: Annotated[list[str] | None, NoDecode] = None
    public_url: str | None = None
    http_host: str = "0.0.0.0"  # noqa: S104 - a container must listen on every interface
    http_port: int = Field(default=8080, ge=0, le=65535)
    default_daily_quota: int = Field(default=10, ge=0)
    max_jobs_per_user: int = Field(default=2, ge=1)
    provider_concurrency: int = Field(default=8, ge=1)
    max_images_per_job: int = Field(default=4, ge=1, le=15)
    job_deadline_seconds: float = Field(default=900.0, gt=0)
    #: how long results Discord won't take are kept and retried before a refund
    delivery_retry_hours: float = Field(default=24.0, gt=0)
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            return names or None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("public_url", "discord_api_base", mode="after")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("dev_guild_id", "public_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def require_token(self) -> str:
        """The Discord token, or a ConfigError naming ``DISCORD_TOKEN``."""
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise ConfigError("DISCORD_TOKEN", "is required to run the bot (set it in .env)")
        return self.discord_token.get_secret_value().strip()


def load_settings(env_file: str | Path | None = ENV_FILE) -> Settings:
    """Read ``Settings`` and turn a pydantic error into a one-line ``ConfigError``."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        raise _config_error(exc, prefix="") from None


def load_provider_settings(name: str, env_file: str | Path | None = ENV_FILE) -> ProviderSettings:
    """Read ``<NAME>_API_KEY``, ``<NAME>_BASE_URL`` and ``<NAME>_MODEL``."""
    prefix = f"{name.upper()}_"
    try:
        return ProviderSettings(_env_prefix=prefix, _env_file=env_file)
    except ValidationError as exc:
        raise _config_error(exc, prefix=prefix) from None


def _config_error(exc: ValidationError, *, prefix: str) -> ConfigError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    # pydantic's message never carries the input for secrets; ours never adds it.
    return ConfigError(f"{prefix}{field}".upper(), first["msg"].lower())

"""Process settings, read from the environment and an optional ``.env`` file.

Built once by the entry point and passed down; nothing reads the environment at import
time. Provider settings (``<NAME>_API_KEY``, ``<NAME>_BASE_URL``, ``<NAME>_MODEL``) are read
per registered provider, so adding a provider never touches this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.core.errors import ConfigError, ConfigErrors
from bot.core.localizable import SHIPPED_LOCALES, SOURCE_LOCALE

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
    # Sharding across processes. NoDecode: SHARD_IDS is "0,1", not JSON. None: discord.py
    # asks Discord how many shards and runs them all here.
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    shard_count: int | None = Field(default=None, ge=1)
    database_path: Path = Path("data/seedream-bot.sqlite3")
    # PostgreSQL shared by several processes and hosts; unset: SQLite at DATABASE_PATH.
    # A secret: it holds the password (only host:port/db is ever shown).
    database_url: SecretStr | None = None
    # NoDecode: PROVIDERS is "poyo,apiyi", not JSON.
    providers: Annotated[list[str] | None, NoDecode] = None
    public_url: str | None = None
    http_host: str = "0.0.0.0"  # noqa: S104 - a container must listen on every interface
    http_port: int = Field(default=8080, ge=0, le=65535)
    # Prometheus metrics on a bind of their own, private by default
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    default_daily_quota: int = Field(default=10, ge=0)
    # Operator cost control: which servers may use the bot, and what moderators may hand out.
    # NoDecode: ALLOWED_GUILD_IDS is "123,456", not JSON. None: any server (warned at start).
    allowed_guild_ids: Annotated[frozenset[int] | None, NoDecode] = None
    global_daily_budget: int | None = Field(default=None, ge=0)  # images per UTC day, all servers
    max_daily_quota: int = Field(default=100, ge=0, le=1_000_000)  # allowances and budgets
    max_grant: int = Field(default=1000, ge=1, le=1_000_000)  # bonus credits per /quota grant
    max_jobs_per_user: int = Field(default=2, ge=1)
    #: the ceiling of each provider's adaptive limit of tasks in flight (floor 1)
    provider_concurrency: int = Field(default=64, ge=1)
    max_images_per_job: int = Field(default=4, ge=1, le=15)
    # Issue 15: storyboard frames (not capped by MAX_IMAGES_PER_JOB); the operator's styles
    max_storyboard_frames: int = Field(default=15, ge=2, le=15)
    styles_path: Path | None = None
    job_deadline_seconds: float = Field(default=900.0, gt=0)
    #: how long results Discord won't take are kept and retried before a refund
    delivery_retry_hours: float = Field(default=24.0, gt=0)
    #: PostgreSQL only: a process silent this long is dead and its jobs resume elsewhere,
    #: looked for every JOB_RECOVERY_INTERVAL seconds (worst case: the sum of both)
    job_stall_timeout: float = Field(default=30.0, ge=3)
    job_recovery_interval: float = Field(default=15.0, gt=0)
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Languages (bot/locales): the ones offered (Discord codes, comma-separated; empty: all
    # shipped) and the fallback when neither the member's nor the server's is offered
    locales: Annotated[tuple[str, ...], NoDecode] = SHIPPED_LOCALES
    default_locale: str = SOURCE_LOCALE

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            return names or None
        return value

    @field_validator("allowed_guild_ids", mode="before")
    @classmethod
    def _split_guild_ids(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            # ASCII digits only: int() would also take "١٢" or "1_000".
            if not (part.isascii() and part.isdigit()):
                raise ValueError("must be comma-separated server ids (digits only)")
        return frozenset(int(part) for part in parts) or None

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_shard_ids(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            if not (part.isascii() and part.isdigit()):
                raise ValueError("must be comma-separated shard numbers (digits only), e.g. 0,1")
        ids = [int(part) for part in parts]
        for shard in ids:
            if ids.count(shard) > 1:
                raise ValueError(f"lists shard {shard} more than once")
        return tuple(ids) or None

    @field_validator("locales", mode="before")
    @classmethod
    def _split_locales(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
            value = value or SHIPPED_LOCALES
        for code in value:
            _shipped(code)
        return value

    @field_validator("default_locale", mode="after")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        return _shipped(value.strip())

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

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str) or not value.strip():
            return None
        url = value.strip()
        # the messages never quote the value: it holds the password
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError("is not a valid URL (check the port and brackets)") from None
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "must be a PostgreSQL URL: postgresql://user:password@host:5432/database"
            )
        if not parts.path.strip("/"):
            raise ValueError("names no database: postgresql://user:password@host:5432/database")
        return url

    @field_validator(
        "dev_guild_id", "public_url", "global_daily_budget", "shard_count", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def clashes(self) -> list[ConfigError]:
        """Problems between settings that are each valid on their own."""
        found = []
        if self.default_daily_quota > self.max_daily_quota:
            # A default above the ceiling would hand every member more than a moderator may.
            found.append(
                ConfigError(
                    "MAX_DAILY_QUOTA",
                    f"is {self.max_daily_quota}, below DEFAULT_DAILY_QUOTA "
                    f"({self.default_daily_quota}); raise MAX_DAILY_QUOTA or lower "
                    "DEFAULT_DAILY_QUOTA",
                )
            )
        found.extend(self._shard_clashes())
        return found

    def _shard_clashes(self) -> list[ConfigError]:
        if self.shard_ids is None:
            return []
        if self.shard_count is None:
            return [
                ConfigError(
                    "SHARD_IDS",
                    "needs SHARD_COUNT, the number of shards across all processes "
                    "(e.g. SHARD_IDS=0,1 with SHARD_COUNT=4)",
                )
            ]
        outside = [shard for shard in self.shard_ids if shard >= self.shard_count]
        if not outside:
            return []
        listed = ", ".join(str(shard) for shard in outside)
        which = f"shards {listed} are" if len(outside) > 1 else f"shard {listed} is"
        return [
            ConfigError(
                "SHARD_IDS",
                f"{which} out of range: with SHARD_COUNT={self.shard_count} "
                f"the ids run from 0 to {self.shard_count - 1}",
            )
        ]

    def postgres_url(self) -> str | None:
        """``DATABASE_URL`` in the clear (to connect with, never to show), or None: SQLite."""
        return None if self.database_url is None else self.database_url.get_secret_value()

    def require_token(self) -> str:
        """The Discord token, or a ConfigError naming ``DISCORD_TOKEN``."""
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise ConfigError("DISCORD_TOKEN", "is required to run the bot (set it in .env)")
        return self.discord_token.get_secret_value().strip()


def _shipped(code: str) -> str:
    if code not in SHIPPED_LOCALES:
        raise ValueError(f"{code!r} is not a shipped locale; use {', '.join(SHIPPED_LOCALES)}")
    return code


def load_settings(env_file: str | Path | None = ENV_FILE) -> Settings:
    """Read ``Settings``; every invalid value becomes one problem of a ``ConfigErrors``."""
    settings, problems = read_settings(env_file)
    if problems:
        raise ConfigErrors(problems)
    return settings


def read_settings(env_file: str | Path | None = ENV_FILE) -> tuple[Settings, list[ConfigError]]:
    """``Settings`` with every invalid field back at its default, and one problem per field.

    The fallback lets the caller go on checking what depends on the valid fields (the
    providers, the token), so an operator sees every problem in one run.
    """
    try:
        settings = Settings(_env_file=env_file)
        return settings, settings.clashes()
    except ValidationError as exc:
        problems = _config_errors(exc, prefix="")
        invalid = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        return Settings.model_construct(), [ConfigError("settings", str(exc))]
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in Settings.model_fields.items()
        if name in invalid
    }
    try:
        fallback = Settings(_env_file=env_file, **defaults)
    except (ValidationError, SettingsError):
        return Settings.model_construct(), problems
    return fallback, problems + fallback.clashes()


def load_provider_settings(name: str, env_file: str | Path | None = ENV_FILE) -> ProviderSettings:
    """Read ``<NAME>_API_KEY``, ``<NAME>_BASE_URL`` and ``<NAME>_MODEL``."""
    prefix = f"{name.upper()}_"
    try:
        return ProviderSettings(_env_prefix=prefix, _env_file=env_file)
    except ValidationError as exc:
        raise ConfigErrors(_config_errors(exc, prefix=prefix)) from None


def _config_errors(exc: ValidationError, *, prefix: str) -> list[ConfigError]:
    problems: dict[str, ConfigError] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        variable = f"{prefix}{field}".upper()
        # pydantic's message never carries the input; ours never adds it (secrets).
        message = error["msg"].removeprefix("Value error, ")  # our validators' own words
        problems.setdefault(variable, ConfigError(variable, message[:1].lower() + message[1:]))
    return list(problems.values())

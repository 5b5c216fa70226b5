"""Which providers the operator enabled, in which order, and building them."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.config import ENV_FILE, Settings, load_provider_settings
from bot.errors import ConfigError
from bot.providers import PROVIDER_TYPES
from bot.providers.base import Provider, ProviderConfig


def configured_providers(
    settings: Settings, env_file: str | Path | None = ENV_FILE
) -> list[ProviderConfig]:
    """Every provider with a key, in ``PROVIDERS`` order if set, else registry order.

    An unknown name in ``PROVIDERS``, or a listed provider without a key, is a ConfigError;
    an empty key counts as unset. Base URLs must be http(s); defaults come from the class.
    """
    if settings.providers:
        unknown = [name for name in settings.providers if name not in PROVIDER_TYPES]
        if unknown:
            raise ConfigError(
                "PROVIDERS",
                f"unknown provider {unknown[0]!r}; known: {', '.join(PROVIDER_TYPES)}",
            )
        names = list(dict.fromkeys(settings.providers))
    else:
        names = list(PROVIDER_TYPES)
    configs: list[ProviderConfig] = []
    for name in names:
        config = _provider_config(name, env_file)
        if config is None:
            if settings.providers:
                raise ConfigError(
                    "PROVIDERS", f"{name} is listed but {name.upper()}_API_KEY is not set"
                )
            continue
        configs.append(config)
    return configs


def _provider_config(name: str, env_file: str | Path | None) -> ProviderConfig | None:
    cls = PROVIDER_TYPES[name]
    raw = load_provider_settings(name, env_file)
    key = raw.api_key.get_secret_value().strip() if raw.api_key else ""
    if not key:
        return None
    base_url = (raw.base_url or "").strip().rstrip("/") or cls.default_base_url
    if not _is_http_url(base_url):
        raise ConfigError(f"{name.upper()}_BASE_URL", "must be an http:// or https:// URL")
    model = (raw.model or "").strip() or cls.default_model
    return ProviderConfig(name=name, api_key=SecretStr(key), base_url=base_url, model=model)


def _is_http_url(value: str) -> bool:
    if any(char.isspace() for char in value):
        return False
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def build_provider(config: ProviderConfig, client: httpx.AsyncClient) -> Provider:
    """An adapter instance for ``config`` sharing ``client``."""
    try:
        cls = PROVIDER_TYPES[config.name]
    except KeyError:
        raise ConfigError("PROVIDERS", f"unknown provider {config.name!r}") from None
    return cls(config=config, client=client)

"""Which providers the operator enabled, in which order, and building them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.config import ENV_FILE, Settings, load_provider_settings
from bot.core.errors import ConfigError, ConfigErrors, config_problems
from bot.providers import PROVIDER_TYPES
from bot.providers.adapter import HttpProvider
from bot.providers.base import Provider, ProviderConfig


def configured_providers(
    settings: Settings, env_file: str | Path | None = ENV_FILE
) -> list[ProviderConfig]:
    """Every provider with a key, in ``PROVIDERS`` order if set, else registry order.

    An unknown name in ``PROVIDERS``, or a listed provider without a key, is a ConfigError;
    an empty key counts as unset. Base URLs must be http(s); defaults come from the class.
    Several problems come together as one ``ConfigErrors``.
    """
    configs, problems = collect_providers(settings, env_file)
    if problems:
        raise ConfigErrors(problems)
    return configs


def collect_providers(
    settings: Settings, env_file: str | Path | None = ENV_FILE
) -> tuple[list[ProviderConfig], list[ConfigError]]:
    """The providers that are configured correctly, and one ConfigError per problem."""
    problems: list[ConfigError] = []
    if settings.providers:
        for unknown in dict.fromkeys(n for n in settings.providers if n not in PROVIDER_TYPES):
            problems.append(
                ConfigError(
                    "PROVIDERS",
                    f"unknown provider {unknown!r}; known: {', '.join(PROVIDER_TYPES)}",
                )
            )
        names = [name for name in dict.fromkeys(settings.providers) if name in PROVIDER_TYPES]
    else:
        names = list(PROVIDER_TYPES)
    configs: list[ProviderConfig] = []
    for name in names:
        try:
            config = _provider_config(name, env_file)
        except ConfigError as exc:
            problems.extend(config_problems(exc))
            continue
        if config is None:
            if settings.providers:
                problems.append(
                    ConfigError(
                        "PROVIDERS", f"{name} is listed but {name.upper()}_API_KEY is not set"
                    )
                )
            continue
        configs.append(config)
    return configs, problems


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


def unknown_model_warnings(configs: Sequence[ProviderConfig]) -> list[str]:
    """One line per provider whose configured model is not in its model table.

    Such a model is still sent as configured, but with conservative limits (``generic_spec``:
    one image, one reference), which is rarely what the operator meant.
    """
    warnings: list[str] = []
    for config in configs:
        cls = PROVIDER_TYPES.get(config.name)
        if cls is None or not issubclass(cls, HttpProvider):
            continue
        specs = cls.model_specs
        if any(config.model in (spec.id, spec.edit_id) for spec in specs):
            continue
        known = ", ".join(spec.id for spec in specs)
        warnings.append(
            f"{config.name.upper()}_MODEL: '{config.model}' is not a model known for "
            f"{cls.display_name} (known: {known}); it is sent as is, limited to one image "
            "and one reference image"
        )
    return warnings

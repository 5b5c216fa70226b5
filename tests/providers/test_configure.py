"""configured_providers / build_provider: keys, order, base URLs, defaults."""

from __future__ import annotations

import httpx
import pytest

from bot.config import Settings
from bot.core.errors import ConfigError
from bot.providers import PROVIDER_TYPES
from bot.providers.apiyi import ApiyiProvider
from bot.providers.configure import build_provider, configured_providers

NAMES = list(PROVIDER_TYPES)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        for suffix in ("API_KEY", "BASE_URL", "MODEL"):
            monkeypatch.delenv(f"{name.upper()}_{suffix}", raising=False)
    monkeypatch.delenv("PROVIDERS", raising=False)


def configured(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return [c.name for c in configured_providers(settings, env_file=None)]


def test_none_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured(monkeypatch) == []


def test_registry_order_and_empty_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    names = configured(monkeypatch, ARK_API_KEY="a" * 10, POYO_API_KEY="p" * 10, VIDGO_API_KEY="  ")
    assert names == ["poyo", "ark"]


def test_providers_setting_orders(monkeypatch: pytest.MonkeyPatch) -> None:
    names = configured(
        monkeypatch, ARK_API_KEY="a" * 10, POYO_API_KEY="p" * 10, PROVIDERS="ARK, poyo"
    )
    assert names == ["ark", "poyo"]


def test_unknown_provider_in_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        configured(monkeypatch, POYO_API_KEY="p" * 10, PROVIDERS="poyo,midjourney")
    assert caught.value.variable == "PROVIDERS"
    assert "midjourney" in caught.value.problem


def test_listed_provider_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        configured(monkeypatch, POYO_API_KEY="p" * 10, PROVIDERS="poyo,apiyi", APIYI_API_KEY="")
    assert caught.value.variable == "PROVIDERS"
    assert "APIYI_API_KEY" in caught.value.problem


@pytest.mark.parametrize("url", ["ftp://h", "api.poyo.ai", "http://", "https://exa mple.com"])
def test_bad_base_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configured(monkeypatch, POYO_API_KEY="p" * 10, POYO_BASE_URL=url)
    assert caught.value.variable == "POYO_BASE_URL"


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POYO_API_KEY", " pk-123456789 ")
    monkeypatch.setenv("APIYI_API_KEY", "sk-123456789")
    monkeypatch.setenv("APIYI_BASE_URL", "http://127.0.0.1:9999/v1/")
    monkeypatch.setenv("APIYI_MODEL", "seedream-4-5-251128")
    poyo, apiyi = configured_providers(Settings(_env_file=None), env_file=None)  # type: ignore[call-arg]
    assert poyo.base_url == "https://api.poyo.ai"
    assert poyo.model == "seedream-4.5"
    assert poyo.api_key.get_secret_value() == "pk-123456789"
    assert apiyi.base_url == "http://127.0.0.1:9999/v1"
    assert apiyi.model == "seedream-4-5-251128"
    assert "sk-123456789" not in repr(apiyi)


def test_env_file_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    env = tmp_path / ".env"  # type: ignore[operator]
    env.write_text("ARK_API_KEY=ak-from-file\nARK_MODEL=seedream-4-0-250828\n")
    configs = configured_providers(Settings(_env_file=None), env_file=env)  # type: ignore[call-arg]
    assert [(c.name, c.model) for c in configs] == [("ark", "seedream-4-0-250828")]


async def test_build_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIYI_API_KEY", "sk-123456789")
    (config,) = configured_providers(Settings(_env_file=None), env_file=None)  # type: ignore[call-arg]
    async with httpx.AsyncClient() as client:
        provider = build_provider(config, client)
    assert isinstance(provider, ApiyiProvider)
    assert provider.client is client
    assert provider.capabilities.default_model == "seedream-5-0-260128"

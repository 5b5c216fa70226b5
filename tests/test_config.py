"""Settings: names, defaults, parsing, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_provider_settings, load_settings
from bot.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient settings leak in; tests run where there is no .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "PROVIDERS", "PUBLIC_URL", "DEV_GUILD_ID", "HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_documented_contract() -> None:
    settings = load_settings(None)
    assert settings.discord_token is None
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.database_path == Path("data/seedream-bot.sqlite3")
    assert settings.providers is None
    assert settings.public_url is None
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)
    assert settings.default_daily_quota == 10
    assert (settings.log_level, settings.log_format) == ("INFO", "text")


def test_providers_is_an_ordered_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDERS", " APIYI, poyo ,,ark")
    assert load_settings(None).providers == ["apiyi", "poyo", "ark"]


def test_env_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / "custom.env"
    env.write_text("DISCORD_TOKEN=abc.def.ghi\nLOG_FORMAT=JSON\nDEV_GUILD_ID=\n")
    settings = load_settings(env)
    assert settings.require_token() == "abc.def.ghi"
    assert settings.log_format == "json"
    assert settings.dev_guild_id is None


def test_missing_token_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None).require_token()
    assert info.value.variable == "DISCORD_TOKEN"
    assert str(info.value).startswith("DISCORD_TOKEN: ")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HTTP_PORT", "eighty"),
        ("HTTP_PORT", "70000"),
        ("DEFAULT_DAILY_QUOTA", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("PUBLIC_URL", "bot.example.com"),
    ],
)
def test_invalid_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == variable
    assert value not in info.value.problem or variable == "LOG_LEVEL"


def test_public_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://bot.example.com/")
    assert load_settings(None).public_url == "https://bot.example.com"


def test_provider_settings_use_the_provider_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POYO_API_KEY", "sk-poyo-secret")
    monkeypatch.setenv("POYO_MODEL", "seedream-4")
    poyo = load_provider_settings("poyo", None)
    assert poyo.api_key is not None
    assert poyo.api_key.get_secret_value() == "sk-poyo-secret"
    assert poyo.model == "seedream-4"
    assert "sk-poyo-secret" not in repr(poyo)
    assert load_provider_settings("vidgo", None).api_key is None


COST_CONTROLS = ("ALLOWED_GUILD_IDS", "GLOBAL_DAILY_BUDGET", "MAX_DAILY_QUOTA", "MAX_GRANT")


@pytest.fixture
def no_cost_controls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*COST_CONTROLS, "DEFAULT_DAILY_QUOTA"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_cost_controls")
def test_cost_controls_default_to_open_servers_no_global_cap_and_modest_ceilings() -> None:
    settings = load_settings(None)
    assert settings.allowed_guild_ids is None
    assert settings.global_daily_budget is None
    assert (settings.max_daily_quota, settings.max_grant) == (100, 1000)


@pytest.mark.usefixtures("no_cost_controls")
def test_allowed_guild_ids_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_GUILD_IDS", " 123456789012345678, 42,,")
    assert load_settings(None).allowed_guild_ids == {123456789012345678, 42}
    monkeypatch.setenv("ALLOWED_GUILD_IDS", "")
    assert load_settings(None).allowed_guild_ids is None
    monkeypatch.setenv("GLOBAL_DAILY_BUDGET", "")
    assert load_settings(None).global_daily_budget is None


@pytest.mark.usefixtures("no_cost_controls")
@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ALLOWED_GUILD_IDS": "123,abc"}, "ALLOWED_GUILD_IDS"),
        ({"ALLOWED_GUILD_IDS": "１２３"}, "ALLOWED_GUILD_IDS"),
        ({"GLOBAL_DAILY_BUDGET": "-1"}, "GLOBAL_DAILY_BUDGET"),
        ({"MAX_DAILY_QUOTA": "-1"}, "MAX_DAILY_QUOTA"),
        ({"MAX_GRANT": "0"}, "MAX_GRANT"),
        ({"DEFAULT_DAILY_QUOTA": "20", "MAX_DAILY_QUOTA": "19"}, "MAX_DAILY_QUOTA"),
    ],
)
def test_bad_cost_controls_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == variable


@pytest.mark.usefixtures("no_cost_controls")
def test_a_default_above_the_ceiling_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_DAILY_QUOTA", "150")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == "MAX_DAILY_QUOTA"
    problem = info.value.problem.lower()
    assert "is 100, below default_daily_quota (150)" in problem
    assert "raise max_daily_quota or lower default_daily_quota" in problem
    monkeypatch.setenv("MAX_DAILY_QUOTA", "150")
    assert load_settings(None).default_daily_quota == 150

"""Settings: names, defaults, parsing, and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import (
    ProviderSettings,
    Settings,
    load_provider_settings,
    load_settings,
    read_settings,
)
from bot.core.errors import ConfigError, ConfigErrors
from bot.providers import PROVIDER_TYPES


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient settings leak in; tests run where there is no .env."""
    monkeypatch.chdir(tmp_path)
    for name in expected_variables():
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


def test_every_invalid_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "HTTP_PORT": "eighty",
        "LOG_LEVEL": "LOUD",
        "DEFAULT_DAILY_QUOTA": "-1",
        "PUBLIC_URL": "bot.example.com",
    }
    for variable, value in bad.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigErrors) as info:
        load_settings(None)
    problems = info.value.problems
    assert sorted(problem.variable for problem in problems) == sorted(bad)
    for problem in problems:
        assert bad[problem.variable] not in problem.problem or problem.variable == "LOG_LEVEL"
    assert isinstance(info.value, ConfigError)  # callers that report one problem still can


def test_valid_settings_survive_next_to_invalid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """So the CLI can go on to check the providers and the token in the same run."""
    monkeypatch.setenv("HTTP_PORT", "eighty")
    monkeypatch.setenv("PROVIDERS", "apiyi,poyo")
    monkeypatch.setenv("DEFAULT_DAILY_QUOTA", "25")
    settings, problems = read_settings(None)
    assert [problem.variable for problem in problems] == ["HTTP_PORT"]
    assert settings.http_port == 8080
    assert settings.providers == ["apiyi", "poyo"]
    assert settings.default_daily_quota == 25


def test_allowed_values_keep_their_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert "'DEBUG'" in info.value.problem


# --- .env.example lists every setting, with its default --------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
EXAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def example_values() -> dict[str, str]:
    """``NAME -> value`` of every line of ``.env.example``, commented out or not."""
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text().splitlines():
        match = EXAMPLE_LINE.match(line.strip())
        if match:
            assert match.group(1) not in values, f"{match.group(1)} is listed twice"
            values[match.group(1)] = match.group(2).strip()
    return values


def expected_variables() -> set[str]:
    """Read from the models and the provider registry, so a new setting fails this test."""
    names = {name.upper() for name in Settings.model_fields}
    for provider in PROVIDER_TYPES:
        names |= {f"{provider.upper()}_{field.upper()}" for field in ProviderSettings.model_fields}
    return names


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = set(example_values())
    expected = expected_variables()
    assert not expected - listed, f"missing from .env.example: {sorted(expected - listed)}"
    assert not listed - expected, f"not settings, yet in .env.example: {sorted(listed - expected)}"
    assert {"POYO_BASE_URL", "ARK_MODEL", "APIKLEY_API_KEY"} <= listed


def test_env_example_shows_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commented line shows the default: read back, it gives exactly the default value."""
    values = example_values()
    for name in values:
        monkeypatch.delenv(name, raising=False)
    for field, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if default is None:
            continue  # an example value, not a default
        one_line = tmp_path / f"{field}.env"
        one_line.write_text(f"{field.upper()}={values[field.upper()]}\n")
        assert getattr(load_settings(one_line), field) == default, field.upper()
    for name, cls in PROVIDER_TYPES.items():
        assert values[f"{name.upper()}_BASE_URL"] == cls.default_base_url
        assert values[f"{name.upper()}_MODEL"] == cls.default_model
        assert values[f"{name.upper()}_API_KEY"] == ""


def test_env_example_as_copied_starts_with_no_secret(tmp_path: Path) -> None:
    """`cp .env.example .env` gives an empty token and keys: the CLI then asks for them."""
    settings = load_settings(EXAMPLE)
    assert settings.discord_token is None or not settings.discord_token.get_secret_value()
    assert all(
        load_provider_settings(name, EXAMPLE).api_key in (None, SecretStr(""))
        for name in PROVIDER_TYPES
    )


def test_a_validator_message_reads_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "bot.example.com")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value) == "PUBLIC_URL: must start with http:// or https://"


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


def test_locales_default_to_every_shipped_one_and_refuse_unknown_codes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(None)
    assert settings.locales == ("en-US", "de", "fr", "es-ES", "pt-BR", "ja", "zh-CN", "ru")
    assert settings.default_locale == "en-US"
    monkeypatch.setenv("LOCALES", " de , ja ")
    monkeypatch.setenv("DEFAULT_LOCALE", "ja")
    chosen = load_settings(None)
    assert (chosen.locales, chosen.default_locale) == (("de", "ja"), "ja")
    monkeypatch.setenv("LOCALES", "de,klingon")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == "LOCALES"
    assert "'klingon' is not a shipped locale" in info.value.problem
    monkeypatch.setenv("LOCALES", "de")
    monkeypatch.setenv("DEFAULT_LOCALE", "es-419")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert info.value.variable == "DEFAULT_LOCALE"

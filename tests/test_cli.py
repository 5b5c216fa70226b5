"""The console script as a new operator runs it: one line per problem, no secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "sk-poyo-very-secret-0123456789"


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot`` in an empty folder with only the given settings."""
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    base.pop("PROVIDERS", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(Path(__file__).parents[1]), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_token_names_discord_token(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", POYO_API_KEY=SECRET)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_default_command_is_run(tmp_path: Path) -> None:
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr


def test_run_without_any_provider_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", DISCORD_TOKEN="a.b.c")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "provider" in result.stderr


def test_check_lists_the_provider_without_its_key(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "check",
        DISCORD_TOKEN="token-value-0123456789",
        POYO_API_KEY=SECRET,
        POYO_BASE_URL="http://127.0.0.1:9/proxy",
    )
    assert result.returncode == 0, result.stderr
    assert "poyo" in result.stdout
    assert "http://127.0.0.1:9/proxy" in result.stdout
    assert "seedream-4.5" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert "token-value-0123456789" not in result.stdout + result.stderr


def test_check_without_token_lists_providers_then_fails(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", APIYI_API_KEY=SECRET)
    assert result.returncode == 2
    assert "apiyi" in result.stdout
    assert "DISCORD_TOKEN" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_check_reads_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN=t.o.k\nARK_API_KEY={SECRET}\n")
    result = run_cli(tmp_path, "check")
    assert result.returncode == 0, result.stderr
    assert "ark" in result.stdout
    assert SECRET not in result.stdout


def test_providers_order_is_respected(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "check",
        DISCORD_TOKEN="t.o.k",
        POYO_API_KEY=SECRET,
        APIYI_API_KEY=SECRET,
        PROVIDERS="apiyi,poyo",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("apiyi") < result.stdout.index("poyo")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PROVIDERS": "poyo,nosuch", "POYO_API_KEY": SECRET}, "PROVIDERS"),
        ({"PROVIDERS": "vidgo", "POYO_API_KEY": SECRET}, "PROVIDERS"),
        ({"HTTP_PORT": "http", "POYO_API_KEY": SECRET}, "HTTP_PORT"),
        ({"POYO_API_KEY": SECRET, "POYO_BASE_URL": "api.poyo.ai"}, "POYO_BASE_URL"),
    ],
)
def test_bad_settings_fail_with_one_line(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = run_cli(tmp_path, "check", DISCORD_TOKEN="t.o.k", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert SECRET not in result.stdout + result.stderr


def test_unknown_subcommand_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_check_warns_that_any_server_can_use_the_bot_without_a_list(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check", DISCORD_TOKEN="t.o.k", POYO_API_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert "Servers: any (ALLOWED_GUILD_IDS unset)" in result.stdout
    assert "warning: any server that adds the bot can use it" in result.stdout
    assert "Public Bot" in result.stdout
    assert "Global budget: no cap" in result.stdout
    assert "Moderator ceilings: 100 images per day" in result.stdout
    assert "1000 credits per grant" in result.stdout


def test_check_shows_the_operators_cost_controls(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "check",
        DISCORD_TOKEN="t.o.k",
        POYO_API_KEY=SECRET,
        ALLOWED_GUILD_IDS="222, 111",
        GLOBAL_DAILY_BUDGET="500",
        MAX_DAILY_QUOTA="40",
        MAX_GRANT="60",
    )
    assert result.returncode == 0, result.stderr
    assert "Servers: only 111, 222" in result.stdout
    assert "warning" not in result.stdout
    assert "Global budget: 500 images per UTC day across all servers" in result.stdout
    assert "Moderator ceilings: 40 images per day" in result.stdout
    assert "60 credits per grant" in result.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ALLOWED_GUILD_IDS": "123,my-server"}, "ALLOWED_GUILD_IDS"),
        ({"GLOBAL_DAILY_BUDGET": "-5"}, "GLOBAL_DAILY_BUDGET"),
        ({"DEFAULT_DAILY_QUOTA": "150"}, "MAX_DAILY_QUOTA"),
        ({"MAX_GRANT": "0"}, "MAX_GRANT"),
    ],
)
def test_bad_cost_control_settings_fail_with_one_line(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = run_cli(tmp_path, "check", DISCORD_TOKEN="t.o.k", POYO_API_KEY=SECRET, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}: ")


def test_check_warns_when_the_dev_guild_is_not_allowed(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "check",
        DISCORD_TOKEN="t.o.k",
        POYO_API_KEY=SECRET,
        ALLOWED_GUILD_IDS="111",
        DEV_GUILD_ID="999",
    )
    assert result.returncode == 0, result.stderr
    assert "warning: DEV_GUILD_ID 999 is not in ALLOWED_GUILD_IDS" in result.stdout

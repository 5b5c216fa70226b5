"""The console script as a new operator runs it: one line per problem, no secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider

SECRET = "sk-poyo-very-secret-0123456789"
TOKEN = "token-value-that-must-not-be-printed-0123456789"
ROOT = Path(__file__).resolve().parents[1]


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


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``error:`` lines on stderr; anything else there may only be a ``hint:``."""
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.stderr
    return [line for line in lines if line.startswith("error: ")]


def variables(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The variable each error line names, in order."""
    return [line.removeprefix("error: ").split(":", 1)[0] for line in error_lines(result)]


def test_run_without_token_names_discord_token(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", POYO_API_KEY=SECRET)
    assert result.returncode == 2
    assert variables(result) == ["DISCORD_TOKEN"]
    assert "Traceback" not in result.stderr


def test_default_command_is_run(tmp_path: Path) -> None:
    result = run_cli(tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr


def test_run_without_any_provider_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", DISCORD_TOKEN="a.b.c")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "no provider is configured" in line
    assert "POYO_API_KEY" in line
    assert "ARK_API_KEY" in line


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
    assert variables(result) == [variable]
    assert SECRET not in result.stdout + result.stderr


def test_unknown_subcommand_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- every problem at once ---------------------------------------------------------------------

ALL_WRONG = {
    "HTTP_PORT": "http",
    "LOG_LEVEL": "LOUD",
    "PROVIDERS": "poyo,nosuch,vidgo,midjourney",
    "POYO_API_KEY": SECRET,
    "POYO_BASE_URL": "ftp://proxy.example",
}


@pytest.mark.parametrize("command", ["run", "check"])
def test_every_problem_is_reported_in_one_run(tmp_path: Path, command: str) -> None:
    result = run_cli(tmp_path, command, **ALL_WRONG)
    assert result.returncode == 2
    assert variables(result) == [
        "HTTP_PORT",
        "LOG_LEVEL",
        "PROVIDERS",  # nosuch
        "PROVIDERS",  # midjourney
        "POYO_BASE_URL",
        "PROVIDERS",  # vidgo listed without its key
        "DISCORD_TOKEN",
    ]
    lines = error_lines(result)
    assert "'nosuch'" in lines[2]
    assert "'midjourney'" in lines[3]
    assert "VIDGO_API_KEY" in lines[5]
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_missing_token_and_provider_come_together(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run")
    assert result.returncode == 2
    assert variables(result) == ["DISCORD_TOKEN", "<PROVIDER>_API_KEY"]


def test_secrets_never_appear_among_the_problems(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "check", DISCORD_TOKEN=TOKEN, HTTP_PORT="-5", APIYI_API_KEY=SECRET, PROVIDERS="x"
    )
    assert result.returncode == 2
    assert variables(result) == ["HTTP_PORT", "PROVIDERS"]
    assert TOKEN not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_check_summary_is_not_printed_from_invalid_settings(tmp_path: Path) -> None:
    """With HTTP_PORT invalid, "Web server: 0.0.0.0:8080" would be a lie."""
    result = run_cli(tmp_path, "check", DISCORD_TOKEN=TOKEN, POYO_API_KEY=SECRET, HTTP_PORT="x")
    assert result.returncode == 2
    assert variables(result) == ["HTTP_PORT"]
    assert "Web server" not in result.stdout


# --- no .env: how to make one ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "check"])
def test_without_dot_env_the_error_suggests_copying_the_example(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    result = run_cli(tmp_path, command)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("hint: ")
    assert "cp .env.example .env" in result.stderr


def test_without_dot_env_or_example_the_hint_still_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run")
    assert result.returncode == 2
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert "no .env" in hint
    assert ".env.example" in hint


def test_with_a_dot_env_there_is_no_copy_hint(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    (tmp_path / ".env").write_text("DISCORD_TOKEN=\n")
    result = run_cli(tmp_path, "run")
    assert result.returncode == 2
    assert "hint:" not in result.stderr
    assert variables(result) == ["DISCORD_TOKEN", "<PROVIDER>_API_KEY"]


def test_a_copied_example_asks_for_the_token_and_a_key(tmp_path: Path) -> None:
    """The newcomer's second step: `cp .env.example .env`, then run."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    result = run_cli(tmp_path, "check")
    assert result.returncode == 2
    assert variables(result) == ["DISCORD_TOKEN", "<PROVIDER>_API_KEY"]
    assert "Providers (the first serves" in result.stdout


# --- --env-file --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--env-file", "prod.env", "check"),
        ("check", "--env-file", "prod.env"),
        ("--env-file", "prod.env", "run"),
        ("--env-file", "prod.env"),
    ],
)
def test_a_missing_env_file_is_an_error_naming_it(tmp_path: Path, args: tuple[str, ...]) -> None:
    # Everything else would be fine: the old CLI ignored the missing file and started.
    result = run_cli(tmp_path, *args, DISCORD_TOKEN=TOKEN, POYO_API_KEY=SECRET, HTTP_PORT="x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --env-file: no such file: prod.env"]
    assert result.stdout == ""


def test_an_env_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    result = run_cli(tmp_path, "check", "--env-file", "conf", DISCORD_TOKEN=TOKEN)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith("error: --env-file: conf ")


def test_env_file_is_read_and_named_in_the_token_error(tmp_path: Path) -> None:
    (tmp_path / "prod.env").write_text(f"ARK_API_KEY={SECRET}\n")
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nPOYO_API_KEY={SECRET}\n")
    result = run_cli(tmp_path, "check", "--env-file", "prod.env")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert line.startswith("error: DISCORD_TOKEN: ")
    assert "prod.env" in line
    assert "ark" in result.stdout
    assert "poyo" not in result.stdout
    assert "hint:" not in result.stderr


# --- the first start, as the operator sees it --------------------------------------------------


async def test_first_start_logs_who_where_and_the_invite_url(tmp_path: Path) -> None:
    """A real ``run`` against the fake Discord, where nobody has invited the bot yet."""
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=SECRET) as poyo,
        FakeProvider("apiyi") as apiyi,
    ):
        discord.bot_in_guild = False
        env = bot_env(
            tmp_path, discord, poyo, free_port(), DISCORD_TOKEN=TOKEN, PROVIDERS="apiyi,poyo"
        )
        env.update(apiyi.env())
        async with bot_process(tmp_path, env) as bot:
            await wait_healthy(bot)
            async with asyncio.timeout(15):  # the start lines follow READY
                while "in no server yet" not in bot.output:
                    await asyncio.sleep(0.05)
            bot.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.process.wait(), timeout=15) == 0
        output = bot.output
    me = discord.bot_user
    assert f"Logged in as {me.username} (id {me.id}), in 0 servers" in output
    assert "Providers in order: apiyi (serves, model seedream-5-0-260128), poyo (failover" in output
    invite = (
        "https://discord.com/oauth2/authorize"
        f"?client_id={discord.application_id}&scope=bot+applications.commands&permissions=117760"
    )
    assert invite in output
    assert TOKEN not in output
    assert SECRET not in output


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
    errors = [line for line in result.stderr.splitlines() if not line.startswith("hint: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {variable}: ")


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


def test_check_says_vidgo_is_polled_behind_an_http_public_url(tmp_path: Path) -> None:
    keys = {"DISCORD_TOKEN": "t.o.k", "POYO_API_KEY": SECRET, "VIDGO_API_KEY": SECRET}
    result = run_cli(tmp_path, "check", PUBLIC_URL="http://bot.example.org", **keys)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: Vidgo sends callbacks to https:// URLs only; with PUBLIC_URL "
        "http://bot.example.org its jobs are polled"
    ]
    secure = run_cli(tmp_path, "check", PUBLIC_URL="https://bot.example.org", **keys)
    assert secure.returncode == 0, secure.stderr
    assert "note: " not in secure.stdout

"""One bot process per SQLite file, with real processes: a second bot on the same file exits 2
with one line, and the lock goes with the process that held it, even on SIGKILL."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.dblock import database_lock
from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider

DATABASE = "data/shared.sqlite3"  # relative: the error names the file as configured
IN_USE = f"error: DATABASE_PATH: {DATABASE} is in use by another seedream-bot process\n"


async def test_a_second_bot_on_the_same_file_exits_2_and_the_first_keeps_running(
    tmp_path: Path,
) -> None:
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FakeProvider("poyo") as provider,
    ):

        def env() -> dict[str, str]:
            return bot_env(
                tmp_path,
                discord,
                provider,
                free_port(),
                DATABASE_PATH=DATABASE,
                DISCORD_TOKEN="MTAx.fake.token",
            )

        async with bot_process(tmp_path, env()) as first:
            await wait_healthy(first)
            async with bot_process(tmp_path, env()) as second:
                code = await asyncio.wait_for(second.process.wait(), timeout=30)
            assert code == 2
            assert [line for line in second.lines if line.strip()] == [IN_USE]
            assert first.process.returncode is None
            await wait_healthy(first)  # undisturbed

            first.process.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(first.process.wait(), timeout=10) == -signal.SIGKILL

        # the kernel dropped the killed process's lock: a new bot starts on the same file
        async with bot_process(tmp_path, env()) as third:
            await wait_healthy(third)
            third.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(third.process.wait(), timeout=10) == 0
        assert IN_USE not in third.output


def test_the_lock_is_held_for_the_block_and_released_after(tmp_path: Path) -> None:
    database = tmp_path / "new" / "dir" / "bot.sqlite3"
    with database_lock(database):
        assert (tmp_path / "new" / "dir" / "bot.sqlite3.lock").exists()
        # another open file description conflicts, as another process's would
        with (
            pytest.raises(ConfigError, match="is in use by another seedream-bot process"),
            database_lock(database),
        ):
            pass
    with database_lock(database):
        pass


def test_a_lock_file_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with (
        pytest.raises(ConfigError, match=r"^DATABASE_PATH: cannot open .*bot\.sqlite3 \("),
        database_lock(blocker / "bot.sqlite3"),
    ):
        pass

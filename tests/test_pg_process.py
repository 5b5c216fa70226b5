"""The bot as a real process on DATABASE_URL: /imagine to a posted result, the ledger and the
result images in PostgreSQL, no SQLite file or lock, and the password never in its output."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import psycopg

from tests.botprocess import bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider, Script
from tests.storage.test_pg_setup import PASSWORD, with_password

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gsecret.token-that-must-never-be-logged"
KEY = "sk-poyo-key-that-must-never-be-logged"


async def test_imagine_on_postgres_posts_the_result_and_settles_it(
    tmp_path: Path, pg_url: str
) -> None:
    url = with_password(pg_url)
    async with (
        FakeDiscord(heartbeat_interval_ms=1000, token=TOKEN) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=0.1)) as provider,
    ):
        env = bot_env(
            tmp_path,
            discord,
            provider,
            free_port(),
            DISCORD_TOKEN=TOKEN,
            DATABASE_URL=url,
            LOG_LEVEL="DEBUG",
        )
        async with bot_process(tmp_path, env) as bot:
            await discord.wait_ready(timeout=30)
            await wait_healthy(bot)
            handle = await discord.slash("imagine", options={"prompt": "a red fox"})
            assert (await handle.response(timeout=10)).type == 5
            result = await discord.wait_for(
                lambda: next(
                    (
                        m
                        for m in discord.messages(discord.channel)
                        if m.attachments and not m.ephemeral
                    ),
                    None,
                ),
                timeout=30,
            )
            assert result.attachments[0].data
            await discord.wait_for(lambda: _ledger(pg_url) == [("done", 1, 0)] or None, timeout=10)
            bot.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.process.wait(), timeout=10) == 0
    # the ledger is in PostgreSQL; nothing of SQLite was opened or locked
    assert not (tmp_path / "data" / "bot.sqlite3").exists()
    assert not (tmp_path / "data" / "bot.sqlite3.lock").exists()
    assert not (tmp_path / "data" / "images").exists()  # the images waited in bytea
    assert PASSWORD not in bot.output
    assert TOKEN not in bot.output
    assert KEY not in bot.output


def _ledger(url: str) -> list[tuple[str, int | None, int]]:
    """(state, charged, result images still stored) of every job, as another process sees."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT state, charged, (SELECT count(*) FROM image_blobs b WHERE b.job_id = j.id) "
            "FROM jobs j"
        ).fetchall()
    return [(str(s), c, int(n)) for s, c, n in rows]

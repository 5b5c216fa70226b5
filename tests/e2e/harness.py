"""Run the real SeedreamBot against the fake Discord and a fake provider, in this process.

The bot is built exactly as ``bot.launcher`` builds it (``bot.root.Root.open``); only the
endpoints and the engine's timings differ, passed in as ``Overrides``.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.config import Settings
from bot.discord.app import SeedreamBot
from bot.jobs.job_runner import RunnerConfig
from bot.jobs.waiting import PollSchedule
from bot.root import EngineOptions, Overrides, Root
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_fixtures import start_bot
from tests.fakes.discord_models import StoredMessage
from tests.providers.fakes import FakeProvider

FAST_POLLS = PollSchedule(first=0.02, interval=0.02, growth=1.0, max_interval=0.02)
JOB_ID = re.compile(r"`([a-z2-7]{8})`")

#: the secrets every in-process bot runs with; ``tests/conftest.py`` checks that no log line
#: the bot's logging would write and no message sent to the fake Discord ever shows them
BOT_TOKEN = "MTEyMjMzNDQ1NTY2Nzc4ODk5.GtEsTs.e2e-bot-token-that-must-never-be-logged"
PROVIDER_KEY = "sk-e2e-provider-key-that-must-never-be-logged-0123"


def fast_engine(**runner: Any) -> EngineOptions:
    """Engine timings for tests: quick polls, short back-offs, a 20 s deadline.

    ``runner`` overrides ``RunnerConfig`` fields (e.g. ``deadline``, ``public_url``)."""
    values: dict[str, Any] = {
        "deadline": 20.0,
        "poll_schedule": FAST_POLLS,
        "retry_backoff": 0.05,
        "max_retry_wait": 0.2,
        "delivery_backoff": 0.05,
    }
    values.update(runner)
    return EngineOptions(runner=RunnerConfig(**values), stop_timeout=2.0)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for one test bot, nothing read from a .env file."""
    values: dict[str, Any] = {
        "discord_token": SecretStr(BOT_TOKEN),
        "database_path": tmp_path / "bot.sqlite3",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "metrics_port": 0,
        "providers": None,
        "public_url": None,
        "dev_guild_id": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class World:
    """The fakes, the settings, and the running bot."""

    discord: FakeDiscord
    provider: FakeProvider
    settings: Settings
    bot: SeedreamBot | None = None
    #: the running process's objects (its database, engine, web server)
    root: Root | None = None
    started: list[SeedreamBot] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def running(
        self,
        *,
        engine_options: EngineOptions | None = None,
        http_timeout: float | None = None,
        provider_model: str | None = None,
        **settings_overrides: Any,
    ) -> AsyncIterator[SeedreamBot]:
        """Start the bot (a fresh process's worth of objects); stop it cleanly on exit.

        ``engine_options`` replaces ``fast_engine()``; ``http_timeout`` shortens the provider
        HTTP client's timeouts (seconds); ``provider_model`` is the provider's ``_MODEL``."""
        settings = self.settings.model_copy(
            update={"discord_api_base": self.discord.api_base, **settings_overrides}
        )
        overrides = Overrides(
            engine=engine_options or fast_engine(),
            http_timeout=http_timeout,
            bot_options={"guild_ready_timeout": 0.1},
        )
        root = await Root.open(settings, [self.provider.config(provider_model)], overrides)
        bot = root.bot
        try:
            async with start_bot(bot, self.discord, token=BOT_TOKEN):
                self.bot, self.root = bot, root
                try:
                    yield bot
                finally:
                    await root.stop_taking_jobs()
        finally:
            self.bot = self.root = None
            await root.close()

    def channel_messages(self) -> list[StoredMessage]:
        """The bot's public messages in #general, oldest first."""
        return [
            m
            for m in self.discord.messages(self.discord.channel)
            if m.author.id == self.discord.bot_user.id and not m.ephemeral
        ]

    def card(self, job_id: str) -> StoredMessage | None:
        """The job's card (or result) message in the channel."""
        for message in self.channel_messages():
            for embed in message.embeds:
                if (embed.get("footer") or {}).get("text", "").endswith(job_id):
                    return message
        return None

    async def result(self, job_id: str, timeout: float = 10.0) -> StoredMessage:
        """Wait until the job's card carries its images and the job is settled.

        The card is edited a moment before the bot records it (and settles the job in that
        record), so a test that goes on to look at the ledger (/status) waits for both."""

        def delivered() -> StoredMessage | None:
            card = self.card(job_id)
            return card if card is not None and card.attachments else None

        card = await self.discord.wait_for(delivered, timeout)
        await self.settled(job_id, timeout)
        return card

    def job_row(self, job_id: str) -> dict[str, Any] | None:
        """The job's row in the ledger, read from the file (read-only), or None."""
        path = self.settings.database_path
        if not path.exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row is not None else None

    async def settled(self, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the job reached a final state in the ledger; its row."""

        def final() -> dict[str, Any] | None:
            row = self.job_row(job_id)
            return row if row is not None and row["charged"] is not None else None

        result: dict[str, Any] = await self.discord.wait_for(final, timeout)
        return result

    async def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait for any condition on the fakes."""
        return await self.discord.wait_for(predicate, timeout)


def job_id_in(text: str | None) -> str:
    """The job id quoted in a bot answer."""
    match = JOB_ID.search(text or "")
    assert match is not None, f"no job id in {text!r}"
    return match.group(1)


def text_input_ids(modal: dict[str, Any]) -> list[str]:
    """The custom ids of a modal's text inputs (rows or labels, depth first)."""
    found: list[str] = []

    def walk(components: list[dict[str, Any]]) -> None:
        for component in components:
            if component.get("type") == 4:
                found.append(component["custom_id"])
            walk(list(component.get("components", [])))
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    walk(list(modal.get("components", [])))
    return found


async def answer_modal(world: World, opener: Any, text: str, *, user: Any = None) -> Any:
    """Fill the only text input of the modal ``opener`` opened, and submit it."""
    callback = await opener.response()
    assert callback.type == 9, f"expected a modal, got callback type {callback.type}"
    modal = callback.data
    [input_id] = text_input_ids(modal)
    return await world.discord.submit_modal(modal["custom_id"], {input_id: text}, user=user)

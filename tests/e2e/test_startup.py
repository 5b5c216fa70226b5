"""The first lines an operator reads: who the bot is, where it is, which providers serve."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import discord
import pytest

from bot.discord.app import INVITE_PERMISSIONS, THREAD_INVITE_PERMISSIONS, SeedreamBot
from bot.root import Overrides, Root
from tests.e2e.harness import BOT_TOKEN, World, fast_engine
from tests.fakes.discord_fixtures import start_bot
from tests.providers.fakes import FakeProvider


@asynccontextmanager
async def running(world: World, *providers: FakeProvider) -> AsyncIterator[SeedreamBot]:
    """The bot as ``bot.launcher`` builds it, serving ``providers`` in that order."""
    settings = world.settings.model_copy(update={"discord_api_base": world.discord.api_base})
    overrides = Overrides(engine=fast_engine(), bot_options={"guild_ready_timeout": 0.1})
    root = await Root.open(settings, [provider.config() for provider in providers], overrides)
    try:
        async with start_bot(root.bot, world.discord, token=BOT_TOKEN):
            yield root.bot
            await root.stop_taking_jobs()
    finally:
        await root.close()


def start_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.discord.app"]


async def test_the_log_says_who_where_and_which_providers_in_order(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    async with FakeProvider("apiyi") as apiyi, running(world, apiyi, world.provider):
        pass
    lines = start_lines(caplog)
    me = world.discord.bot_user
    assert f"Logged in as {me.username} (id {me.id}), in 1 server" in lines
    assert (
        "Providers in order: apiyi (serves, model seedream-5-0-260128), "
        "poyo (failover, model seedream-4.5)"
    ) in lines
    assert not any("invite" in line for line in lines)  # it is in a server already


async def test_in_no_server_the_log_gives_the_invite_url(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.app")
    world.discord.bot_in_guild = False
    async with running(world, world.provider) as bot:
        assert not bot.guilds
    lines = start_lines(caplog)
    me = world.discord.bot_user
    assert f"Logged in as {me.username} (id {me.id}), in 0 servers" in lines
    [invite] = [
        r for r in caplog.records if r.name == "bot.discord.app" and "invite" in r.getMessage()
    ]
    assert invite.levelno == logging.WARNING
    url = re.search(r"https://\S+", invite.getMessage())
    assert url is not None
    assert url.group(0) == (
        "https://discord.com/oauth2/authorize"
        f"?client_id={world.discord.application_id}"
        "&scope=bot+applications.commands&permissions=117760"
    )
    assert "permissions=274878024704" in invite.getMessage()


def test_the_invite_permissions_are_the_documented_ones() -> None:
    """The integers the README documents, derived from the permissions the bot uses."""
    assert INVITE_PERMISSIONS.value == 117760
    assert THREAD_INVITE_PERMISSIONS.value == 274878024704
    assert THREAD_INVITE_PERMISSIONS.send_messages_in_threads
    needed = discord.Permissions(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
    )
    assert needed == INVITE_PERMISSIONS
    assert not INVITE_PERMISSIONS.administrator


def test_the_readme_documents_the_same_invite_and_where_the_id_is() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"permissions={INVITE_PERMISSIONS.value}" in readme
    assert f"permissions={THREAD_INVITE_PERMISSIONS.value}" in readme
    assert "**General Information** → **Application ID**" in readme

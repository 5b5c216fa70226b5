"""SeedreamBot: the discord.py client, its command tree, extensions and command sync."""

from __future__ import annotations

import hashlib
import json
import logging
import pkgutil
from typing import Any, TypeAlias

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

import cogs
from bot.config import Settings
from bot.services import Services
from bot.ui.delivery import DiscordDelivery
from bot.ui.desk import JobDesk

log = logging.getLogger(__name__)

COMMAND_HASH_KEY = "command_tree_hash"
DEFAULT_API_BASE = "https://discord.com/api/v10"

#: the smallest set the bot needs (README: Create the Discord application): 117760
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
#: the same plus Send Messages in Threads, for results inside threads: 274878024704
THREAD_INVITE_PERMISSIONS = discord.Permissions(
    INVITE_PERMISSIONS.value, send_messages_in_threads=True
)


def invite_url(application_id: int, permissions: discord.Permissions = INVITE_PERMISSIONS) -> str:
    """The OAuth2 URL that adds the bot with its slash commands and ``permissions``."""
    return discord.utils.oauth_url(
        application_id, permissions=permissions, scopes=("bot", "applications.commands")
    )


def intents() -> discord.Intents:
    """Default intents plus guild messages; nothing privileged.

    A message that mentions the bot carries its content even without the message-content
    intent, which is all edit-by-reply needs.
    """
    value = discord.Intents.default()
    value.guild_messages = True
    value.message_content = False
    value.members = False
    value.presences = False
    return value


def extension_names() -> list[str]:
    """Every module in ``cogs/`` that is not private (``_render.py`` and friends)."""
    return [
        module.name
        for module in pkgutil.iter_modules(cogs.__path__, f"{cogs.__name__}.")
        if not module.name.rsplit(".", 1)[-1].startswith("_")
    ]


class SeedreamBot(commands.AutoShardedBot):
    """The bot. AutoShardedBot because it discovers the gateway through ``GET /gateway/bot``,
    which honours ``DISCORD_API_BASE``; a plain Bot connects to Discord's gateway directly."""

    def __init__(self, settings: Settings, services: Services, **options: Any) -> None:
        from bot.tree import SeedreamTree

        # No voice here: don't warn at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False

        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(),
            tree_cls=SeedreamTree,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **options,
        )
        self.settings = settings
        self.services = services
        self.desk: JobDesk
        self._introduced = False

    async def setup_hook(self) -> None:
        """Start the engine (resuming jobs), load the extensions, sync commands if changed."""
        if self.settings.allowed_guild_ids is None:
            log.warning(
                "ALLOWED_GUILD_IDS is unset: any server that adds the bot can use it and spend "
                "the provider credits. Set it, and turn off Public Bot in the Developer Portal."
            )
        await self._pin_gateway()
        delivery = DiscordDelivery(self, self._record_card, self.services.providers)
        engine = await self.services.start(
            deliverer=delivery, events=delivery, discord_connected=lambda: self.discord_connected
        )
        self.desk = JobDesk(
            engine,
            delivery,
            self.services.providers,
            max_count=self.settings.max_images_per_job,
        )
        for name in extension_names():
            await self.load_extension(name)
        await self.sync_commands()

    async def _pin_gateway(self) -> None:
        """Behind a custom ``DISCORD_API_BASE``, reconnect to the gateway it names.

        discord.py falls back to Discord's own gateway after a session it cannot resume;
        remembering the discovered URL keeps every connection on the configured endpoint.
        """
        if self.settings.discord_api_base == DEFAULT_API_BASE:
            return
        _, url, _ = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    async def on_ready(self) -> None:
        """Say once who the bot is, where it is, and which providers serve."""
        if self._introduced:  # on_ready fires again after a reconnect with a new session
            return
        self._introduced = True
        user = self.user
        servers = len(self.guilds)
        log.info(
            "Logged in as %s (id %s), in %d server%s",
            user.name if user else "?",
            user.id if user else "?",
            servers,
            "" if servers == 1 else "s",
        )
        log.info("Providers in order: %s", self._provider_summary())
        if servers == 0 and self.application_id is not None:
            log.warning(
                "The bot is in no server yet; invite it with %s "
                "(for results in threads use permissions=%d)",
                invite_url(self.application_id),
                THREAD_INVITE_PERMISSIONS.value,
            )

    def _provider_summary(self) -> str:
        parts = [
            f"{provider.name} ({'serves' if index == 0 else 'failover'}, "
            f"model {provider.config.model})"
            for index, provider in enumerate(self.services.providers)
        ]
        return ", ".join(parts) or "none"

    def guild_allowed(self, guild_id: int | None) -> bool:
        """Whether the operator lets this server use the bot (``ALLOWED_GUILD_IDS``)."""
        allowed = self.settings.allowed_guild_ids
        return allowed is None or (guild_id is not None and guild_id in allowed)

    async def on_guild_available(self, guild: discord.Guild, /) -> None:
        """At start (and after an outage), leave a server that is not on the allow-list."""
        await self._leave_if_unlisted(guild, "found at start")

    async def on_guild_join(self, guild: discord.Guild, /) -> None:
        """Someone added the bot to a server: leave at once unless it is on the allow-list."""
        await self._leave_if_unlisted(guild, "just added")

    async def _leave_if_unlisted(self, guild: discord.Guild, how: str) -> None:
        if self.guild_allowed(guild.id):
            return
        # %r: a server name is chosen by strangers and may hold line breaks.
        log.warning(
            "Leaving server %s %r (%s): it is not in ALLOWED_GUILD_IDS", guild.id, guild.name, how
        )
        try:
            await guild.leave()
        except discord.HTTPException as exc:
            log.error("Could not leave server %s: %s", guild.id, exc)

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: a message that starts with the bot's mention is an edit request
        (``cogs.edit``), not an unknown prefix command logged as an error with a traceback."""

    async def _record_card(self, job_id: str, message_id: int) -> None:
        await self.desk.engine.record_messages(job_id, card_message_id=message_id)

    async def sync_commands(self) -> None:
        """Sync to ``DEV_GUILD_ID`` at every start (instant); globally only on change."""
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(id=self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), guild.id)
            return
        digest = self.command_tree_hash()
        if await self.services.get_setting(COMMAND_HASH_KEY) == digest:
            log.info("Command tree unchanged; no global sync")
            return
        synced = await self.tree.sync()
        await self.services.set_setting(COMMAND_HASH_KEY, digest)
        log.info("Synced %d global commands (tree changed)", len(synced))

    def command_tree_hash(self) -> str:
        """A stable hash of the global command payloads."""
        payload: list[dict[str, Any]] = sorted(
            (command.to_dict(self.tree) for command in self.tree.get_commands()),
            key=lambda item: (item.get("type", 1), item["name"]),
        )
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def discord_connected(self) -> bool:
        """True once READY and while the gateway is up (for ``/healthz``)."""
        return self.is_ready() and not self.is_closed()


Interaction: TypeAlias = discord.Interaction[SeedreamBot]

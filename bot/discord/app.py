"""SeedreamBot: the discord.py client, its command tree, extensions and command sync."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import discord
import httpx
from discord.ext import commands

from bot.discord.desk import JobDesk
from bot.discord.sharding import discover_gateway, identify_bucket, shard_options
from bot.discord.translator import CatalogTranslator
from bot.discord.tree import SeedreamTree
from bot.i18n.catalogs import ENGLISH, Catalogs
from bot.jobs.engine import JobEngine
from bot.moderation.actions import ModerationService
from bot.providers.base import Provider
from bot.quotas.rules import QuotaService
from bot.storage.advisory import ClusterLocks, LocalLocks

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


#: the extensions loaded at start, in this order (RoboDanny's ``initial_extensions``);
#: a new cog is listed here, and a test checks that none in ``cogs/`` is left out
INITIAL_EXTENSIONS = (
    "cogs.blend",
    "cogs.blocklist",
    "cogs.buttons",
    "cogs.edit",
    "cogs.help",
    "cogs.imagine",
    "cogs.quota_admin",
    "cogs.settings",
    "cogs.status",
    "cogs.storyboard",
    "cogs.style",
)


@dataclass(frozen=True)
class BotConfig:
    """What the operator set that the Discord client itself uses."""

    allowed_guild_ids: frozenset[int] | None = None
    dev_guild_id: int | None = None
    discord_api_base: str = DEFAULT_API_BASE
    #: the shards this process connects (``SHARD_IDS``); None: all of them
    shard_ids: tuple[int, ...] | None = None
    #: the shards of the whole bot (``SHARD_COUNT``); None: as Discord recommends
    shard_count: int | None = None
    #: the enabled languages (``LOCALES``, ``DEFAULT_LOCALE``): commands and replies
    catalogs: Catalogs = ENGLISH


class StateStore(Protocol):
    """Small values kept between starts (the command-tree hash)."""

    async def get(self, key: str) -> str | None:
        """The value under ``key``, or None."""

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""


@dataclass(frozen=True)
class BotServices:
    """What the cogs use, handed to the bot by the composition root (``bot.root``)."""

    jobs: JobEngine
    desk: JobDesk
    quotas: QuotaService
    moderation: ModerationService
    providers: Sequence[Provider]
    state: StateStore
    #: the process's one HTTP client (reference images read again from Discord)
    http_client: httpx.AsyncClient
    #: starts the engine (resuming jobs) and the web server, once logged in
    startup: Callable[[], Awaitable[None]]
    #: duties shared with the bot's other processes (command sync, IDENTIFY spacing)
    locks: ClusterLocks = field(default_factory=LocalLocks)


class SeedreamBot(commands.AutoShardedBot):
    """The bot. AutoShardedBot because it discovers the gateway through ``GET /gateway/bot``,
    which honours ``DISCORD_API_BASE``; a plain Bot connects to Discord's gateway directly.

    Built by ``bot.root``, which hands it its collaborators with ``provide`` (the posting
    layer, which the engine needs, needs this client first). Cogs use ``bot.jobs``,
    ``bot.quotas``, ``bot.moderation`` and ``bot.desk``.
    """

    jobs: JobEngine
    desk: JobDesk
    quotas: QuotaService
    moderation: ModerationService
    providers: Sequence[Provider]
    http_client: httpx.AsyncClient

    def __init__(self, config: BotConfig, **options: Any) -> None:
        # No voice here: don't warn at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False

        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(),
            tree_cls=SeedreamTree,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **shard_options(config.shard_ids, config.shard_count),
            **options,
        )
        self.config = config
        self.catalogs = config.catalogs
        self._services: BotServices | None = None
        self._introduced = False
        #: Discord's ``session_start_limit.max_concurrency``, read when IDENTIFYs are shared
        self._max_concurrency = 1

    def provide(self, services: BotServices) -> None:
        """Hand the bot what its cogs use (once, before it starts)."""
        if self._services is not None:
            raise RuntimeError("the bot's services were already provided")
        self._services = services
        self.jobs = services.jobs
        self.desk = services.desk
        self.quotas = services.quotas
        self.moderation = services.moderation
        self.providers = services.providers
        self.http_client = services.http_client

    async def setup_hook(self) -> None:
        """Start the engine (resuming jobs), load the extensions, sync commands if changed."""
        if self._services is None:
            raise RuntimeError("bot.root builds the bot: its services were never provided")
        if self.config.allowed_guild_ids is None:
            log.warning(
                "ALLOWED_GUILD_IDS is unset: any server that adds the bot can use it and spend "
                "the provider credits. Set it, and turn off Public Bot in the Developer Portal."
            )
        await self._discover_gateway()
        await self._services.startup()
        for name in INITIAL_EXTENSIONS:
            await self.load_extension(name)  # a broken extension stops the start, loudly
        await self.tree.set_translator(CatalogTranslator(self.catalogs))
        await self.sync_commands()

    async def _discover_gateway(self) -> None:
        """Ask ``GET /gateway/bot`` when the gateway URL is to be pinned (a custom
        ``DISCORD_API_BASE``) or IDENTIFYs are shared between processes."""
        assert self._services is not None  # setup_hook checked
        pin = self.config.discord_api_base != DEFAULT_API_BASE
        if pin or self._services.locks.shared:
            self._max_concurrency = await discover_gateway(self.http, pin=pin)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Space IDENTIFYs per ``max_concurrency`` bucket across every process of the bot.

        Alone (SQLite), discord.py's own spacing: 5 s before every IDENTIFY but the first.
        """
        locks = self._services.locks if self._services is not None else None
        if locks is None or not locks.shared:
            await super().before_identify_hook(shard_id, initial=initial)
            return
        bucket = identify_bucket(shard_id, self._max_concurrency)
        await locks.identify_turn(bucket)
        log.debug("Shard %s: IDENTIFY (bucket %d of %d)", shard_id, bucket, self._max_concurrency)

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
            for index, provider in enumerate(self.providers)
        ]
        return ", ".join(parts) or "none"

    def guild_allowed(self, guild_id: int | None) -> bool:
        """Whether the operator lets this server use the bot (``ALLOWED_GUILD_IDS``)."""
        allowed = self.config.allowed_guild_ids
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

    async def sync_commands(self) -> None:
        """Sync to ``DEV_GUILD_ID`` at every start (instant); globally only on change.

        One process of the bot at a time: the next finds the tree's hash stored, and skips.
        """
        assert self._services is not None  # setup_hook checked
        async with self._services.locks.command_sync():
            await self._sync_commands(self._services.state)

    async def _sync_commands(self, state: StateStore) -> None:
        if self.config.dev_guild_id is not None:
            guild = discord.Object(id=self.config.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), guild.id)
            return
        digest = self.command_tree_hash()
        if await state.get(COMMAND_HASH_KEY) == digest:
            log.info("Command tree unchanged; no global sync")
            return
        synced = await self.tree.sync()
        await state.set(COMMAND_HASH_KEY, digest)
        log.info("Synced %d global commands (tree changed)", len(synced))

    def command_tree_hash(self) -> str:
        """A stable hash of the global command payloads and of the catalogs that translate
        them (a new or corrected translation is a change to sync)."""
        payload: list[dict[str, Any]] = sorted(
            (command.to_dict(self.tree) for command in self.tree.get_commands()),
            key=lambda item: (item.get("type", 1), item["name"]),
        )
        text = json.dumps(payload, sort_keys=True) + self.catalogs.fingerprint()
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def discord_connected(self) -> bool:
        """True once READY and while the gateway is up (for ``/healthz``)."""
        return self.is_ready() and not self.is_closed()

    @property
    def rest_ready(self) -> bool:
        """True once logged in to the REST API and until closed (a worker's ``/healthz``)."""
        return self.user is not None and not self.is_closed()


Interaction: TypeAlias = discord.Interaction[SeedreamBot]

"""The fake Discord's state: one guild with roles, channels and members, the message store,
the CDN, registered commands and interactions — plus the gateway payloads rendered from it.

:class:`FakeWorld` has no I/O; :class:`~tests.fakes.discord_api.FakeDiscord` extends it with
the servers and the dispatchers.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from tests.fakes.discord_gateway import GatewaySession
from tests.fakes.discord_interactions import InteractionHandle, MessageHandle
from tests.fakes.discord_messages import form_error, make_attachment
from tests.fakes.discord_models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_UPLOAD_LIMIT,
    EVERYONE_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    JSON,
    MANAGE_GUILD,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Overwrite,
    SnowflakeFactory,
    StoredAttachment,
    StoredMessage,
    UploadedFile,
)

API_PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway-ws"


class FakeWorld:
    """Everything the fake Discord knows.  Attribute names are part of the public API."""

    def __init__(
        self,
        *,
        token: str | None = None,
        shard_count: int = 1,
        max_concurrency: int = 1,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        channel_upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        token_lifetime: float = 900.0,
        callback_deadline: float | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        guild_name: str = "Fake Guild",
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        #: ``session_start_limit.max_concurrency`` of ``GET /gateway/bot``
        self.max_concurrency = max_concurrency
        self.attachment_size_limit = attachment_size_limit
        self.channel_upload_limit = channel_upload_limit
        self.token_lifetime = token_lifetime
        self.callback_deadline = callback_deadline
        self.application_flags = 0
        #: False: READY lists no guild and no GUILD_CREATE follows (a bot invited nowhere yet)
        self.bot_in_guild = True
        self.snowflake = SnowflakeFactory()
        self.interactions: dict[int, InteractionHandle] = {}
        self.modals: dict[str, InteractionHandle] = {}
        self.stored_messages: dict[int, StoredMessage] = {}
        self.cdn: dict[int, StoredAttachment] = {}
        self.registered_commands: dict[int | None, list[JSON]] = {}
        self.adhoc_command_ids: dict[tuple[str, int], int] = {}
        self.port = 0
        #: guilds the bot joined after start (``FakeDiscord.join_guild``), by id
        self.extra_guilds: dict[int, FakeGuild] = {}
        #: ids of the guilds the bot left (``DELETE /users/@me/guilds/{id}``), in order
        self.left_guild_ids: list[int] = []
        self._build_guild(bot_permissions, guild_name)

    def _build_guild(self, bot_permissions: int, guild_name: str) -> None:
        self.bot_user = FakeUser(self.snowflake(), "seedream-test-bot", bot=True)
        self.application_id = self.bot_user.id
        owner_user = FakeUser(self.snowflake(), "owner", "Guild Owner")
        self.guild = FakeGuild(self.snowflake(), guild_name, owner_user.id)
        self.everyone_role = self.add_role("@everyone", EVERYONE_PERMISSIONS, role_id=self.guild.id)
        self.moderator_role = self.add_role("Moderator", MANAGE_GUILD)
        self.bot_role = self.add_role("seedream-test-bot", bot_permissions)
        self.bot_role.managed, self.bot_role.bot_id = True, self.bot_user.id
        self.channel = self.add_channel("general")
        self.bot_member = self._add_member_for(self.bot_user, [self.bot_role.id])
        self.owner = self._add_member_for(owner_user, [])
        self.user = self.add_member(name="alice")

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @property
    def bot_mention(self) -> str:
        return f"<@{self.bot_user.id}>"

    # ------------------------------------------------------------------ building the guild

    def add_role(self, name: str, permissions: int = 0, *, role_id: int | None = None) -> FakeRole:
        role = FakeRole(role_id or self.snowflake(), name, int(permissions), len(self.guild.roles))
        self.guild.roles[role.id] = role
        return role

    def add_channel(
        self, name: str, *, type: int = 0, nsfw: bool = False, upload_limit: int | None = None
    ) -> FakeChannel:
        channel = FakeChannel(
            id=self.snowflake(),
            name=name,
            guild_id=self.guild.id,
            type=type,
            position=len(self.guild.channels),
            nsfw=nsfw,
            upload_limit=upload_limit or self.channel_upload_limit,
        )
        self.guild.channels[channel.id] = channel
        return channel

    def add_member(
        self,
        user_id: int | None = None,
        name: str = "member",
        roles: Any = (),
        permissions: int | None = None,
        *,
        bot: bool = False,
    ) -> FakeMember:
        """Add a guild member.  ``roles`` are ids, names or :class:`FakeRole`; ``permissions``
        (if given) replaces the role-computed guild permissions of this member."""
        user = FakeUser(user_id or self.snowflake(), name, name.title(), bot=bot)
        member = self._add_member_for(user, [self.resolve_role(r).id for r in roles])
        member.permissions = permissions
        return member

    def _add_member_for(self, user: FakeUser, roles: list[int]) -> FakeMember:
        member = FakeMember(user=user, roles=roles)
        self.guild.members[user.id] = member
        return member

    def dm_channel(self, user: Any) -> FakeChannel:
        """The DM channel between the bot and ``user`` (created on first use)."""
        member = self.resolve_member(user)
        for channel in self.guild.channels.values():
            if channel.is_dm and channel.recipient and channel.recipient.id == member.id:
                return channel
        channel = FakeChannel(self.snowflake(), "", None, type=1, recipient=member.user)
        channel.upload_limit = self.channel_upload_limit
        self.guild.channels[channel.id] = channel
        return channel

    def set_overwrite(
        self, channel: Any = None, target: Any = None, *, allow: int = 0, deny: int = 0
    ) -> FakeChannel:
        """Set a permission overwrite (target: role, member or id; default: the bot member)."""
        chan = self.resolve_channel(channel)
        if isinstance(target, FakeRole):
            overwrite = Overwrite(target.id, 0, int(allow), int(deny))
        else:
            member = self.bot_member if target is None else self.resolve_member(target)
            overwrite = Overwrite(member.id, 1, int(allow), int(deny))
        chan.overwrites[overwrite.id] = overwrite
        return chan

    # ------------------------------------------------------------------ attachments / CDN

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> JSON:
        """Put a file on the fake CDN; returns the attachment dict (use it as an option value,
        in ``user_message(attachments=...)`` or in a modal file upload)."""
        upload = UploadedFile("files[0]", filename, content_type, data)
        return self.new_attachment(self.channel.id, upload, {}, ephemeral=True).payload()

    def new_attachment(
        self, channel_id: int, upload: UploadedFile, entry: JSON, *, ephemeral: bool = False
    ) -> StoredAttachment:
        attachment_id = self.snowflake()
        kind = "ephemeral-attachments" if ephemeral else "attachments"
        filename = entry.get("filename") or upload.filename
        url = f"{self.base_url}/{kind}/{channel_id}/{attachment_id}/{quote(filename)}"
        stored = make_attachment(attachment_id, upload, entry, url)
        stored.ephemeral = ephemeral
        self.cdn[attachment_id] = stored
        return stored

    def expire_attachment_urls(self) -> None:
        """Every attachment URL handed out so far stops working (as after Discord's ~24 h);
        messages fetched again carry new ones."""
        for stored in self.cdn.values():
            stored.expire_url()

    # ------------------------------------------------------------------ look-ups

    def resolve_member(self, who: Any) -> FakeMember:
        """``None`` (the default ``user``), a :class:`FakeMember`/:class:`FakeUser` or an id."""
        if who is None:
            return self.user
        if isinstance(who, FakeMember):
            return who
        user_id = who.id if isinstance(who, FakeUser) else int(who)
        try:
            return self.guild.members[user_id]
        except KeyError:
            raise ValueError(f"unknown member {who!r}; call add_member() first") from None

    def resolve_channel(self, which: Any) -> FakeChannel:
        """``None`` (``#general``), a :class:`FakeChannel` or an id."""
        if which is None:
            return self.channel
        if isinstance(which, FakeChannel):
            return which
        channel = self.guild_channel(int(which))
        if channel is None:
            raise ValueError(f"unknown channel {which!r}")
        return channel

    def guild_channel(self, channel_id: int) -> FakeChannel | None:
        """A channel of the default guild or of one of ``extra_guilds``, or None."""
        for guild in (self.guild, *self.extra_guilds.values()):
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return None

    def resolve_role(self, which: Any) -> FakeRole:
        if isinstance(which, FakeRole):
            return which
        for role in self.guild.roles.values():
            if role.name == which or str(role.id) == str(which):
                return role
        raise ValueError(f"unknown role {which!r}")

    def resolve_attachment(self, which: Any) -> StoredAttachment:
        if isinstance(which, StoredAttachment):
            return which
        key = int(which["id"]) if isinstance(which, dict) else int(which)
        return self.cdn[key]

    def resolve_message(self, which: Any) -> StoredMessage:
        message_id = which.id if isinstance(which, StoredMessage | MessageHandle) else int(which)
        found = self.stored_messages.get(message_id)
        if found is None:
            raise ValueError(f"unknown message {which!r}")
        return found

    def messages(
        self, channel: Any = None, *, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """Messages in ``channel`` (default ``#general``), oldest first, ephemeral included."""
        channel_id = self.resolve_channel(channel).id
        return [
            m
            for m in self.stored_messages.values()
            if m.channel_id == channel_id and (include_deleted or not m.deleted)
        ]

    def message(self, message_id: int) -> StoredMessage | None:
        return self.stored_messages.get(int(message_id))

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Application commands the bot registered (global, or for ``guild_id``)."""
        return list(self.registered_commands.get(guild_id, []))

    def store_message(self, message: StoredMessage) -> None:
        self.stored_messages[message.id] = message
        channel = self.guild_channel(message.channel_id)
        if channel is not None:
            channel.last_message_id = message.id

    def apply_reference(self, message: StoredMessage, reference: JSON | None) -> None:
        """Make ``message`` a reply (type 19) to ``reference["message_id"]``."""
        if not reference or not reference.get("message_id"):
            return
        target = self.stored_messages.get(int(reference["message_id"]))
        if target is None or target.deleted:
            if reference.get("fail_if_not_exists", True):
                unknown = ("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown")
                raise form_error([unknown])
            return
        message.reference_id, message.referenced_message, message.type = target.id, target, 19

    def token_expired(self, handle: InteractionHandle) -> bool:
        return handle.expired or time.monotonic() - handle.created_at > self.token_lifetime

    # ------------------------------------------------------------------ permissions

    def permissions_for(self, member: FakeMember, channel: FakeChannel) -> int:
        """Discord's computation: roles, then @everyone, role and member overwrites."""
        if channel.is_dm:
            return EVERYONE_PERMISSIONS
        base = self._guild_permissions(member)
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        overwrites = channel.overwrites
        everyone = overwrites.get(self.guild.id)
        if everyone:
            base = (base & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.roles:
            role_overwrite = overwrites.get(role_id)
            if role_overwrite and role_overwrite.type == 0:
                allow, deny = allow | role_overwrite.allow, deny | role_overwrite.deny
        base = (base & ~deny) | allow
        own = overwrites.get(member.id)
        if own and own.type == 1:
            base = (base & ~own.deny) | own.allow
        return base

    def member_permissions(self, member: FakeMember, channel: FakeChannel) -> int:
        return self.permissions_for(member, channel)

    def _guild_permissions(self, member: FakeMember) -> int:
        if member.id == self.guild.owner_id:
            return ALL_PERMISSIONS
        if member.permissions is not None:
            return member.permissions
        perms = self.everyone_role.permissions
        for role_id in member.roles:
            perms |= self.guild.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    # ------------------------------------------------------------------ gateway payloads

    def check_token(self, token: str | None) -> bool:
        if token is not None and token.startswith("Bot "):
            token = token[4:]
        return self.token is None or token == self.token

    def shard_of(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % self.shard_count

    def _in_shard(self, session: GatewaySession) -> bool:
        if not self.bot_in_guild:
            return False
        return (self.guild.id >> 22) % session.shard_count == session.shard_id

    def ready_payload(self, session: GatewaySession) -> JSON:
        unavailable = {"id": str(self.guild.id), "unavailable": True}
        return {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [unavailable] if self._in_shard(session) else [],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-gateway"],
        }

    def guild_create_payloads(self, session: GatewaySession) -> list[JSON]:
        """GUILD_CREATE for this shard; other members only with the GUILD_MEMBERS intent."""
        if not self._in_shard(session):
            return []
        everyone = session.has_intent(INTENT_GUILD_MEMBERS)
        members = [m for m in self.guild.members.values() if everyone or m.id == self.bot_user.id]
        channels = [c for c in self.guild.channels.values() if not c.is_dm]
        guild = {
            **self.guild.payload(),
            "joined_at": self.guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.guild.members),
            "voice_states": [],
            "members": [m.payload() for m in members],
            "channels": [c.payload() for c in channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
        return [guild]

    def new_guild(self, name: str) -> FakeGuild:
        """Another guild, with @everyone, the bot as a member and one text channel; it lives
        only in ``extra_guilds`` (the default guild stays the one every helper acts on)."""
        owner = FakeUser(self.snowflake(), "stranger", "Stranger")
        guild = FakeGuild(self.snowflake(), name, owner.id)
        guild.roles[guild.id] = FakeRole(guild.id, "@everyone", EVERYONE_PERMISSIONS, 0)
        channel_id = self.snowflake()
        guild.channels[channel_id] = FakeChannel(channel_id, "general", guild.id)
        guild.members[self.bot_user.id] = FakeMember(user=self.bot_user)
        guild.members[owner.id] = FakeMember(user=owner)
        self.extra_guilds[guild.id] = guild
        return guild

    def guild_join_payload(self, guild: FakeGuild) -> JSON:
        """GUILD_CREATE for a guild the bot was just added to (only the bot as member)."""
        return {
            **guild.payload(),
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [guild.members[self.bot_user.id].payload()],
            "channels": [c.payload() for c in guild.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def members_chunk(self, session: GatewaySession, request: JSON) -> JSON:
        """Answer to op 8 REQUEST_GUILD_MEMBERS (one chunk)."""
        query = (request.get("query") or "").lower()
        wanted = {int(u) for u in request.get("user_ids") or []}
        members = [
            m
            for m in self.guild.members.values()
            if (not wanted or m.id in wanted) and m.name.lower().startswith(query)
        ]
        limit = int(request.get("limit") or 0)
        chunk: JSON = {
            "guild_id": str(self.guild.id),
            "members": [m.payload() for m in members[: limit or None]],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if request.get("nonce"):
            chunk["nonce"] = request["nonce"]
        return chunk

    # ------------------------------------------------------------------ interaction payloads

    def interaction_payload(
        self,
        handle: InteractionHandle,
        data: JSON,
        member: FakeMember,
        channel: FakeChannel,
        message: StoredMessage | None,
        locale: str,
    ) -> JSON:
        """The INTERACTION_CREATE body, guild or DM flavoured."""
        payload: JSON = {
            "id": str(handle.id),
            "application_id": str(self.application_id),
            "type": handle.type,
            "data": data,
            "channel_id": str(channel.id),
            "channel": channel.payload(permissions=self.permissions_for(member, channel)),
            "token": handle.token,
            "version": 1,
            "app_permissions": str(self.permissions_for(self.bot_member, channel)),
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": handle.attachment_size_limit,
        }
        if channel.is_dm:
            payload.update(
                user=member.user.payload(), context=1, authorizing_integration_owners={"0": "0"}
            )
        else:
            # the channel's guild: the default one or one of ``extra_guilds``
            guild_id = str(channel.guild_id or self.guild.id)
            payload.update(
                guild_id=guild_id,
                guild={
                    "id": guild_id,
                    "locale": self.guild.preferred_locale,
                    "features": [],
                },
                guild_locale=self.guild.preferred_locale,
                member=member.payload(permissions=self.permissions_for(member, channel)),
                context=0,
                authorizing_integration_owners={"0": guild_id},
            )
        if message is not None:
            payload["message"] = message.payload()
        return payload

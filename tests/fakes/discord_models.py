"""Data model of the fake Discord: users, members, roles, channels, messages, recordings.

Everything here is plain data plus the builders that turn it into Discord API v10 payloads
(snowflakes as strings, ISO-8601 timestamps).  The server logic lives in ``discord_api``.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 10 * MIB

# Message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15

# Gateway intents the fake cares about
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | (1 << 8) | INTENT_MESSAGE_CONTENT

ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
VIEW_CHANNEL = discord.Permissions(view_channel=True).value
SEND_MESSAGES = discord.Permissions(send_messages=True).value
ATTACH_FILES = discord.Permissions(attach_files=True).value
MANAGE_GUILD = discord.Permissions(manage_guild=True).value

EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    create_instant_invite=True,
    change_nickname=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    read_message_history=True,
    use_application_commands=True,
).value

DEFAULT_BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    use_external_emojis=True,
).value


def iso_now() -> str:
    """Current UTC time as Discord formats it."""
    return datetime.now(UTC).isoformat()


class SnowflakeFactory:
    """Makes strictly increasing, realistic snowflakes (timestamp in the top bits)."""

    def __init__(self) -> None:
        self._last = 0
        self._increment = itertools.count()

    def __call__(self) -> int:
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (now_ms << 22) | (next(self._increment) & 0xFFF)
        self._last = max(candidate, self._last + 1)
        return self._last


# --------------------------------------------------------------------------- guild objects


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class FakeMember:
    """A guild member.  ``permissions`` (if set) overrides the role-computed permissions."""

    user: FakeUser
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_now)
    nick: str | None = None
    permissions: int | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.username

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class FakeChannel:
    id: int
    name: str
    guild_id: int | None
    type: int = 0
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    recipient: FakeUser | None = None  # DM channels only
    last_message_id: int | None = None

    @property
    def is_dm(self) -> bool:
        return self.type == 1

    def payload(self, *, permissions: int | None = None) -> JSON:
        if self.is_dm:
            assert self.recipient is not None
            data: JSON = {
                "id": str(self.id),
                "type": 1,
                "last_message_id": _opt_str(self.last_message_id),
                "recipients": [self.recipient.payload()],
                "flags": 0,
            }
        else:
            data = {
                "id": str(self.id),
                "type": self.type,
                "guild_id": str(self.guild_id),
                "name": self.name,
                "position": self.position,
                "permission_overwrites": [o.payload() for o in self.overwrites.values()],
                "parent_id": None,
                "topic": self.topic,
                "nsfw": self.nsfw,
                "rate_limit_per_user": 0,
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
            }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso_now)
    #: the server's language (``guild_locale`` in interactions, ``preferred_locale`` here)
    preferred_locale: str = "en-US"

    def payload(self) -> JSON:
        """The REST guild object (no channels/members, like ``GET /guilds/{id}``)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "nsfw_level": 0,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }


# --------------------------------------------------------------------------- messages


@dataclass
class UploadedFile:
    """A file part of a multipart request (``files[n]``)."""

    field_name: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def index(self) -> int | None:
        """The ``n`` in ``files[n]``, if the part was named that way."""
        name = self.field_name
        if name.startswith("files[") and name.endswith("]"):
            try:
                return int(name[6:-1])
            except ValueError:
                return None
        return None


@dataclass
class StoredAttachment:
    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    width: int | None = None
    height: int | None = None
    ephemeral: bool = False
    #: how many times its signed URL expired; the CDN serves only the current URL
    generation: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def expire_url(self) -> None:
        """Its URL stops working (Discord's signed CDN URLs last about a day); the message
        it is in, fetched again, carries the new one."""
        self.generation += 1
        self.url = f"{self.url.split('?')[0]}?ex={self.generation:x}"

    def serves(self, query: Mapping[str, str]) -> bool:
        """Whether a CDN request with this query string gets the file."""
        wanted = f"{self.generation:x}" if self.generation else None
        return query.get("ex") == wanted

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url.replace("/attachments/", "/media-proxy/attachments/", 1),
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "ephemeral": self.ephemeral,
            "flags": 0,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass
class StoredMessage:
    """A message as the fake stores it.  ``payload()`` renders the Discord message object."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    member: FakeMember | None = None
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    mentions: list[FakeMember | FakeUser] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    reference_id: int | None = None
    referenced_message: StoredMessage | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: JSON | None = None
    nonce: str | None = None
    tts: bool = False
    deleted: bool = False
    edits: int = 0

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    def snapshot(self) -> StoredMessage:
        return copy.deepcopy(self)

    def walk_components(self) -> Iterator[JSON]:
        """Every component dict in this message, depth first (rows, containers, sections...)."""
        return walk_components(self.components)

    def find_component(self, custom_id: str) -> JSON | None:
        return next((c for c in self.walk_components() if c.get("custom_id") == custom_id), None)

    def payload(self, *, gateway: bool = False, include_reference: bool = True) -> JSON:
        """The message object; ``gateway=True`` adds the ``member`` fields MESSAGE_CREATE has."""
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [_mention_payload(m, gateway) for m in self.mentions],
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if gateway and self.member is not None:
            data["member"] = self.member.payload(with_user=False)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = copy.deepcopy(self.interaction_metadata)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.reference_id is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(self.reference_id),
                "channel_id": str(self.channel_id),
                **({"guild_id": str(self.guild_id)} if self.guild_id else {}),
            }
            if include_reference:
                ref = self.referenced_message
                data["referenced_message"] = (
                    None if ref is None or ref.deleted else ref.payload(include_reference=False)
                )
        return data


def _mention_payload(who: FakeMember | FakeUser, gateway: bool) -> JSON:
    if isinstance(who, FakeMember) and gateway:
        return {**who.user.payload(), "member": who.payload(with_user=False)}
    return who.user.payload() if isinstance(who, FakeMember) else who.payload()


def walk_components(components: list[JSON]) -> Iterator[JSON]:
    for component in components:
        yield component
        children = list(component.get("components", []))
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                children.append(component[key])
        yield from walk_components(children)


# --------------------------------------------------------------------------- recordings


@dataclass
class RecordedRequest:
    """One HTTP request the bot made.  Iterates as ``(method, path, json, files)``.

    ``path`` is relative to the API base (``/channels/1/messages``) for API routes and the
    absolute path for CDN requests.  ``json`` is the JSON body or the decoded ``payload_json``.
    """

    method: str
    path: str
    json: Any
    files: list[UploadedFile]
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.json, self.files))


@dataclass
class InteractionCallback:
    """The initial response (``POST /interactions/{id}/{token}/callback``) of an interaction."""

    type: int
    data: JSON | None
    files: list[UploadedFile]
    message: StoredMessage | None = None

    @property
    def flags(self) -> int:
        return int((self.data or {}).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def content(self) -> str | None:
        return (self.data or {}).get("content")

    @property
    def embeds(self) -> list[JSON]:
        return list((self.data or {}).get("embeds") or [])


@dataclass
class FaultRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int

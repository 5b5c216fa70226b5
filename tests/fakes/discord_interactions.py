"""Handles returned by the fake's dispatchers, and builders for interaction ``data`` bodies."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tests.fakes.discord_models import (
    JSON,
    FakeChannel,
    FakeMember,
    FakeRole,
    FakeUser,
    InteractionCallback,
    StoredAttachment,
    StoredMessage,
)

if TYPE_CHECKING:
    from tests.fakes.discord_api import FakeDiscord

T = TypeVar("T")

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction callback types
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9
LAUNCH_ACTIVITY = 12

ALLOWED_CALLBACKS: dict[int, set[int]] = {
    PING: {PONG},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL, LAUNCH_ACTIVITY},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
        LAUNCH_ACTIVITY,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}

# Application command option types
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)

DEFAULT_TIMEOUT = 5.0


@dataclass(eq=False)
class InteractionHandle:
    """What the fake knows about one interaction it dispatched, and what the bot did with it.

    * ``callback``: the accepted initial response (``None`` until the bot answers);
    * ``original``: the ``@original`` message (live object; ``None`` for modals/autocomplete);
    * ``followups``: messages created through ``POST /webhooks/{app}/{token}``;
    * ``edits``: snapshots of the ``@original`` message after each ``PATCH``.
    """

    fake: FakeDiscord
    id: int
    token: str
    type: int
    payload: JSON
    user: FakeMember | FakeUser
    channel_id: int
    guild_id: int | None
    message_id: int | None = None
    attachment_size_limit: int = 0
    callback: InteractionCallback | None = None
    original_message_id: int | None = None
    followups: list[StoredMessage] = field(default_factory=list)
    edits: list[StoredMessage] = field(default_factory=list)
    modal: JSON | None = None
    expired: bool = False
    created_at: float = field(default_factory=time.monotonic)

    @property
    def data(self) -> JSON:
        return dict(self.payload.get("data") or {})

    @property
    def original(self) -> StoredMessage | None:
        if self.original_message_id is None:
            return None
        return self.fake.message(self.original_message_id)

    async def response(self, timeout: float = DEFAULT_TIMEOUT) -> InteractionCallback:
        """The initial callback the bot sent (waits for it)."""
        return await self.fake.wait_for(lambda: self.callback, timeout)

    async def followup(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT) -> StoredMessage:
        """The ``index``-th followup message (waits for it)."""
        return await self.fake.wait_for(
            lambda: self.followups[index] if len(self.followups) > index else None, timeout
        )

    async def edit(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT) -> StoredMessage:
        """Snapshot of ``@original`` after its ``index``-th edit (waits for it)."""
        return await self.fake.wait_for(
            lambda: self.edits[index] if len(self.edits) > index else None, timeout
        )

    async def wait(self, predicate: Callable[[InteractionHandle], Any], timeout: float) -> Any:
        """Wait until ``predicate(handle)`` is truthy; returns its value."""
        return await self.fake.wait_for(lambda: predicate(self), timeout)


@dataclass(eq=False)
class MessageHandle:
    """A user message the fake dispatched (``MESSAGE_CREATE``)."""

    fake: FakeDiscord
    message: StoredMessage
    delivered: bool

    @property
    def id(self) -> int:
        return self.message.id

    def replies(self) -> list[StoredMessage]:
        """Bot messages posted in the same channel after this one."""
        return [
            m
            for m in self.fake.messages(self.message.channel_id)
            if m.id > self.message.id and m.author.id == self.fake.bot_user.id
        ]

    async def response(self, timeout: float = DEFAULT_TIMEOUT) -> StoredMessage:
        """The first bot message in the channel after this one (waits for it)."""
        return await self.fake.wait_for(lambda: next(iter(self.replies()), None), timeout)


# --------------------------------------------------------------------------- option building


class Resolver(Protocol):
    """Look-ups the option builder needs from the fake."""

    def resolve_member(self, who: Any) -> FakeMember: ...

    def resolve_channel(self, which: Any) -> FakeChannel: ...

    def resolve_role(self, which: Any) -> FakeRole: ...

    def resolve_attachment(self, which: Any) -> StoredAttachment: ...

    def member_permissions(self, member: FakeMember, channel: FakeChannel) -> int: ...


@dataclass
class OptionBuilder:
    """Turns ``{"name": value}`` into Discord's option list plus the ``resolved`` map."""

    resolver: Resolver
    channel: FakeChannel
    resolved: JSON = field(default_factory=dict)

    def build(
        self, values: Mapping[str, Any] | list[JSON], schema: list[JSON] | None
    ) -> list[JSON]:
        if isinstance(values, list):
            return values  # already in wire format
        types = {opt["name"]: int(opt["type"]) for opt in schema or []}
        return [self.option(name, value, types.get(name)) for name, value in values.items()]

    def option(self, name: str, value: Any, opt_type: int | None) -> JSON:
        opt_type = opt_type or infer_option_type(value)
        return {"name": name, "type": opt_type, "value": self.wire_value(value, opt_type)}

    def wire_value(self, value: Any, opt_type: int) -> Any:
        if opt_type in (STRING, INTEGER, BOOLEAN, NUMBER):
            return value
        if opt_type == USER or (opt_type == MENTIONABLE and not _is_role(value)):
            return self._add_member(self.resolver.resolve_member(value))
        if opt_type in (ROLE, MENTIONABLE):
            return self._add_role(self.resolver.resolve_role(value))
        if opt_type == CHANNEL:
            return self._add_channel(self.resolver.resolve_channel(value))
        if opt_type == ATTACHMENT:
            return self._add_attachment(self.resolver.resolve_attachment(value))
        raise ValueError(f"unsupported option type {opt_type}")

    def _add_member(self, member: FakeMember) -> str:
        key = str(member.id)
        perms = self.resolver.member_permissions(member, self.channel)
        self.resolved.setdefault("users", {})[key] = member.user.payload()
        members = self.resolved.setdefault("members", {})
        members[key] = member.payload(with_user=False, permissions=perms)
        return key

    def _add_role(self, role: FakeRole) -> str:
        self.resolved.setdefault("roles", {})[str(role.id)] = role.payload()
        return str(role.id)

    def _add_channel(self, channel: FakeChannel) -> str:
        data = {
            "id": str(channel.id),
            "name": channel.name,
            "type": channel.type,
            "permissions": str(2**53 - 1),
            "parent_id": None,
            "nsfw": channel.nsfw,
            "flags": 0,
        }
        self.resolved.setdefault("channels", {})[str(channel.id)] = data
        return str(channel.id)

    def _add_attachment(self, attachment: StoredAttachment) -> str:
        self.resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload()
        return str(attachment.id)


def _is_role(value: Any) -> bool:
    return isinstance(value, FakeRole)


def infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, FakeMember | FakeUser):
        return USER
    if isinstance(value, FakeChannel):
        return CHANNEL
    if isinstance(value, FakeRole):
        return ROLE
    if isinstance(value, StoredAttachment) or (isinstance(value, dict) and "filename" in value):
        return ATTACHMENT
    raise TypeError(f"cannot infer an option type for {value!r}; register the command first")


def find_command(commands: Iterable[JSON], name: str, command_type: int) -> JSON | None:
    return next(
        (c for c in commands if c["name"] == name and int(c.get("type", 1)) == command_type),
        None,
    )


def nest_subcommands(
    schema: JSON | None, path: list[str], leaf: Callable[[list[JSON] | None], list[JSON]]
) -> list[JSON]:
    """Wrap the leaf options in ``SUB_COMMAND_GROUP``/``SUB_COMMAND`` options along ``path``."""
    if not path:
        return leaf(schema.get("options") if schema else None)
    head, rest = path[0], path[1:]
    child = next((o for o in (schema or {}).get("options", []) if o["name"] == head), None)
    kind = int(child["type"]) if child else (SUB_COMMAND_GROUP if rest else SUB_COMMAND)
    return [{"name": head, "type": kind, "options": nest_subcommands(child, rest, leaf)}]


def focus(options: list[JSON], focused: str, typed: str, schema: list[JSON] | None) -> None:
    """Mark option ``focused`` (adding it if absent) the way autocomplete sends it: as text."""
    for option in options:
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            sub_schema = next((o for o in schema or [] if o["name"] == option["name"]), {})
            focus(option.setdefault("options", []), focused, typed, sub_schema.get("options"))
            return
    for option in options:
        if option["name"] == focused:
            option.update(value=typed, focused=True)
            return
    declared = next((o for o in schema or [] if o["name"] == focused), None)
    opt_type = int(declared["type"]) if declared else STRING
    options.append({"name": focused, "type": opt_type, "value": typed, "focused": True})


# --------------------------------------------------------------------------- modal submissions


def modal_submit_components(template: list[JSON], values: Mapping[str, Any]) -> list[JSON]:
    """Mirror the modal the bot sent (action rows or labels), filling in ``values``."""
    return [_submitted(c, values) for c in template]


def _submitted(component: JSON, values: Mapping[str, Any]) -> JSON:
    kind = component.get("type")
    out: JSON = {"type": kind}
    if "id" in component:
        out["id"] = component["id"]
    if kind == 1:
        out["components"] = [_submitted(c, values) for c in component.get("components", [])]
    elif kind == 18:
        out["component"] = _submitted(component["component"], values)
    elif "custom_id" in component:
        out["custom_id"] = component["custom_id"]
        out.update(_submitted_value(component, values))
    return out


def _submitted_value(component: JSON, values: Mapping[str, Any]) -> JSON:
    custom_id = component["custom_id"]
    kind = component.get("type")
    if kind == 4:
        if custom_id not in values and component.get("required", True):
            raise ValueError(f"modal text input {custom_id!r} is required")
        return {"value": str(values.get(custom_id, component.get("value") or ""))}
    value = values.get(custom_id)
    if kind == 23:
        return {"value": bool(value)}
    if kind == 21:
        return {"value": value}
    if isinstance(value, list | tuple):
        return {"values": [_scalar(v) for v in value]}
    return {"values": [] if value is None else [_scalar(value)]}


def _scalar(value: Any) -> str:
    if isinstance(value, StoredAttachment | FakeMember | FakeUser | FakeRole | FakeChannel):
        return str(value.id)
    if isinstance(value, dict) and "id" in value:
        return str(value["id"])
    return str(value)


def fallback_modal_components(values: Mapping[str, Any]) -> list[JSON]:
    """Without a recorded modal: one action row with a text input per value."""
    return [
        {"type": 1, "components": [{"type": 4, "custom_id": key, "value": str(value)}]}
        for key, value in values.items()
    ]

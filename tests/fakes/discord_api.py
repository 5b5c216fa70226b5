"""A local fake Discord (REST API v10 + gateway websocket) for end-to-end bot tests.

The real, unpatched discord.py client talks to it; only the endpoints change::

    from tests.fakes import FakeDiscord, start_bot

    async with FakeDiscord(heartbeat_interval_ms=1000) as fake:
        async with start_bot(MyBot(guild_ready_timeout=0.1), fake) as bot:
            handle = await fake.slash("imagine", options={"prompt": "a cat"})
            assert (await handle.response()).type == 5       # deferred
            final = await handle.edit(timeout=10)             # @original after the bot's edit
            assert final.attachments[0].data.startswith(b"\\x89PNG")
        assert not fake.unhandled

``start_bot`` (``tests.fakes.discord_fixtures``) sets ``discord.http.Route.BASE =
fake.api_base`` and ``DiscordWebSocket.DEFAULT_GATEWAY = fake.gateway_url`` (discord.py goes
back to the default gateway after a non-resumable reconnect), waits for ``on_ready``, and
closes the bot (cancelling the ``View`` timers discord.py leaves behind) on exit.

Public API of :class:`FakeDiscord`
----------------------------------

Construction (keyword-only, all optional)::

    FakeDiscord(heartbeat_interval_ms=41250, token=None, shard_count=1, max_concurrency=1,
                attachment_size_limit=10 MiB, channel_upload_limit=10 MiB,
                token_lifetime=900.0, callback_deadline=None,
                bot_permissions=DEFAULT_BOT_PERMISSIONS,
                allowed_privileged_intents=PRIVILEGED_INTENTS, guild_name="Fake Guild")

``token=None`` accepts any token (else a wrong one gets 401 / close 4004);
``shard_count`` and ``max_concurrency`` are what ``GET /gateway/bot`` advises (``shards``,
``session_start_limit.max_concurrency``); a guild belongs to shard ``(id >> 22) % shard_count``.
``callback_deadline`` (e.g. ``3.0``) makes late initial responses fail with 404 10062
"Unknown interaction" like Discord; ``allowed_privileged_intents=0`` makes IDENTIFY with a
privileged intent close with 4014.

Lifecycle: ``async with FakeDiscord() as fake`` or ``await fake.start()`` / ``await fake.close()``.

World (see :class:`~tests.fakes.discord_world.FakeWorld`):
    ``api_base`` (``http://127.0.0.1:PORT/api/v10``), ``base_url``, ``gateway_url``,
    ``bot_user``, ``application_id`` (== bot user id), ``bot_member``, ``bot_role``,
    ``guild`` (``id``, ``name``, ``owner_id``, ``roles``, ``channels``, ``members``),
    ``channel`` (#general), ``everyone_role``, ``moderator_role`` (MANAGE_GUILD),
    ``owner`` (all permissions), ``user`` (plain member; the default actor), ``bot_mention``,
    ``bot_in_guild`` (set False before the bot connects: READY then lists no guild).

    ``add_member(user_id=None, name="member", roles=(), permissions=None, *, bot=False)``
    ``add_role(name, permissions=0)``, ``add_channel(name, *, type=0, nsfw=False,
    upload_limit=None)``, ``dm_channel(user)``, ``permissions_for(member, channel) -> int``,
    ``await set_channel_permissions(channel=None, target=None, *, allow=0, deny=0)``
    (overwrite for a role/member, default the bot; sends CHANNEL_UPDATE; REST then answers
    403 50013, or 50001 without VIEW_CHANNEL), ``add_attachment(filename, data,
    content_type=None) -> dict`` (a file on the fake CDN, usable as option value, message
    attachment or modal upload).

Dispatchers (need an identified bot; while its socket is down the event is queued and replayed
on RESUME; each first ``settle()``s so the bot has digested earlier HTTP responses):
    ``await slash(name, *, user=None, options=None, subcommand=None, group=None,
    channel=None, locale="en-US", dm=False, attachment_size_limit=None) -> InteractionHandle``
    — ``name`` may be ``"group sub"``; ``options`` is ``{name: value}`` (typed through the
    schema the bot registered: members, channels, roles and attachments go into
    ``resolved``) or a raw option list.
    ``await autocomplete(name, focused, value="", *, user=None, options=None, ...)``
    ``await click(message, custom_id, *, user=None, values=None, component_type=None,
    locale="en-US")``
    ``await submit_modal(custom_id, values, *, user=None, message=None, locale="en-US")``
    — mirrors the modal the bot sent (action rows or labels); ``values`` maps component
    custom_id to value.
    ``await context_menu(name, *, user=None, message=None, target_user=None)``
    ``await user_message(channel=None, author=None, content="", *, attachments=(),
    mentions=(), reference=None, embeds=()) -> MessageHandle``
    ``await dispatch(event, data, *, shard_id=None, guild_id=None) -> seq`` (raw event)
    ``await join_guild(name="Another Guild") -> guild id`` (GUILD_CREATE of a new guild;
    ``DELETE /users/@me/guilds/{id}`` answers 204 and sends GUILD_DELETE; ``left_guild_ids``)

Handles (``tests.fakes.discord_interactions``): :class:`InteractionHandle` — ``await
response()`` (the :class:`InteractionCallback`), ``await followup(i)``, ``await edit(i)``
(snapshot of @original after its i-th PATCH), ``original``, ``followups``, ``edits``,
``payload``, ``await wait(pred, timeout)``; :class:`MessageHandle` — ``message``,
``delivered``, ``await response()`` (the bot's next message in that channel), ``replies()``.

Gateway control: ``await wait_ready(timeout=10)``, ``await drop_gateway(code=4000)``,
``await send_reconnect(shard_id=0)``, ``ack_heartbeats`` (False = zombie connection),
``gateway`` (``identify_count``, ``identifies`` — ``Identify(at, shard_id, shard_count)``
per IDENTIFY, ``at`` on ``time.monotonic()`` —, ``resume_count``, ``heartbeat_count``,
``connection_count``, ``received`` frames, ``sessions``).

Inspection: ``requests`` (:class:`RecordedRequest`; unpacks as ``(method, path, json,
files)``, also ``.query``/``.status``), ``requests_to(method, path_regex)``, ``unhandled``
(``(method, path)`` of unknown routes, answered 404 ``{"message": "Unknown", "code": 0}``),
``messages(channel=None, *, include_deleted=False)``, ``message(id)``, ``interactions``,
``commands(guild_id=None)``, ``await wait_for(predicate, timeout=5.0)``, ``await settle()``.

Faults: ``fail_next(method, path_pattern, status, body=None, headers=None, times=1)``
(regex fully matched against the API-relative path, e.g. ``r"/channels/\\d+/messages"``;
``method`` may be ``"*"``), ``delay_next(method, path_pattern, seconds, times=1)`` (answered
late), ``rate_limit_next(method, path_pattern, retry_after=0.1, *,
is_global=False, times=1)`` (429 with ``Retry-After``/``X-RateLimit-*``/``Via``),
``expire_token(interaction)``.

Discord behaviours reproduced: one initial callback per interaction (400 40060 after),
callback types checked against the interaction type (400 50035), expired tokens (webhook
routes 404 10015 "Unknown Webhook", callback 404 10062), the first followup after a deferred
response edits the loading message, ``attachments`` on edits keeps/removes files,
``attachment://`` embed URLs resolve to the CDN, uploads over the limit 413 40005,
empty/oversized bodies 400 50006/50035, missing permissions 403, MESSAGE_CREATE/UPDATE/DELETE
echoed for the bot's own non-ephemeral messages, no guild MESSAGE_CREATE without the
GUILD_MESSAGES intent, content/attachments/embeds blanked without MESSAGE_CONTENT unless the
bot is mentioned or it is a DM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from tests.fakes.discord_gateway import OP_RECONNECT, FakeGateway
from tests.fakes.discord_interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    MessageHandle,
    OptionBuilder,
    fallback_modal_components,
    find_command,
    focus,
    modal_submit_components,
    nest_subcommands,
)
from tests.fakes.discord_models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_UPLOAD_LIMIT,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    JSON,
    PRIVILEGED_INTENTS,
    FakeChannel,
    FakeMember,
    FakeUser,
    RecordedRequest,
    StoredAttachment,
    StoredMessage,
    UploadedFile,
    walk_components,
)
from tests.fakes.discord_rest import FakeRest
from tests.fakes.discord_world import GATEWAY_PATH, FakeWorld

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_INTERVAL = 0.02
USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
SELECT_VALUE_TYPES = {5: 6, 6: 8, 7: 9, 8: 7}  # user/role/mentionable/channel select -> option


class FakeDiscord(FakeWorld):
    """Local Discord for end-to-end tests; see the module docstring for the API."""

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41250,
        token: str | None = None,
        shard_count: int = 1,
        max_concurrency: int = 1,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        channel_upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        token_lifetime: float = 900.0,
        callback_deadline: float | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        guild_name: str = "Fake Guild",
    ) -> None:
        super().__init__(
            token=token,
            shard_count=shard_count,
            max_concurrency=max_concurrency,
            attachment_size_limit=attachment_size_limit,
            channel_upload_limit=channel_upload_limit,
            token_lifetime=token_lifetime,
            callback_deadline=callback_deadline,
            bot_permissions=bot_permissions,
            guild_name=guild_name,
        )
        self.settle_delay = 0.05
        self.gateway = FakeGateway(
            self,
            heartbeat_interval_ms=heartbeat_interval_ms,
            shard_count=shard_count,
            allowed_privileged_intents=allowed_privileged_intents,
            privileged_intents=PRIVILEGED_INTENTS,
            on_change=self._notify,
        )
        self.rest = FakeRest(self, self.gateway, on_change=self._notify)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Self:
        app = web.Application(client_max_size=1024**3)
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked after every request/gateway frame and every 20 ms, so predicates over the
        bot's own state work too.  Raises ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if result:
                    return result
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_INTERVAL):
                        await self._changed.wait()

    async def settle(self, timeout: float = 5.0) -> None:
        """Let the bot digest what it received: wait until the HTTP requests being answered
        now are done (later ones don't count, so a busy bot can't starve this), then
        ``settle_delay`` seconds — discord.py only registers a view once it has parsed the
        response that created the message, for instance."""
        pending = set(self.rest.active)
        await self.wait_for(lambda: not pending & self.rest.active, timeout)
        await asyncio.sleep(self.settle_delay)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until every shard has IDENTIFYed and received READY + GUILD_CREATE."""
        await self.gateway.wait_ready(timeout)

    # ------------------------------------------------------------------ REST recording & faults

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.rest.requests

    @property
    def unhandled(self) -> list[tuple[str, str]]:
        return self.rest.unhandled

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """Recorded requests with ``method`` (or ``"*"``) whose path fully matches the regex."""
        regex = re.compile(path_pattern)
        return [r for r in self.requests if method in ("*", r.method) and regex.fullmatch(r.path)]

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and ``body``)."""
        self.rest.fail_next(method, path_pattern, status, body, headers, times)

    def delay_next(self, method: str, path_pattern: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` matching requests ``seconds`` late."""
        self.rest.delay_next(method, path_pattern, seconds, times)

    def on_request(
        self,
        method: str,
        path_pattern: str,
        action: Callable[[RecordedRequest], bool],
        times: int = 1,
    ) -> None:
        """Run ``action`` on matching requests before they are answered (True counts)."""
        self.rest.on_request(method, path_pattern, action, times)

    def drop_next(self, method: str, path_pattern: str, times: int = 1) -> None:
        """Close the connection on the next ``times`` matching requests, unanswered."""
        self.rest.drop_next(method, path_pattern, times)

    def rate_limit_next(
        self,
        method: str,
        path_pattern: str,
        retry_after: float = 0.1,
        *,
        is_global: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with a realistic 429."""
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        headers = {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"} if is_global else {}
        self.rest.fail_next(method, path_pattern, 429, body, headers, times)

    def expire_token(self, interaction: InteractionHandle | int) -> None:
        """Invalidate the interaction's token now (as after Discord's 15 minutes)."""
        if not isinstance(interaction, InteractionHandle):
            interaction = self.interactions[interaction]
        interaction.expired = True

    async def set_channel_permissions(
        self, channel: Any = None, target: Any = None, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set an overwrite (target: role, member or id; default the bot) and announce it."""
        chan = self.set_overwrite(channel, target, allow=allow, deny=deny)
        if self.gateway.by_shard.get(self.shard_of(self.guild.id)) is not None:
            await self.dispatch("CHANNEL_UPDATE", chan.payload(), guild_id=self.guild.id)

    # ------------------------------------------------------------------ gateway control

    async def dispatch(
        self, event: str, data: JSON, *, shard_id: int | None = None, guild_id: int | None = None
    ) -> int:
        """Send any gateway dispatch (queued for RESUME while the socket is down)."""
        shard = shard_id if shard_id is not None else self.shard_of(guild_id)
        return await self.gateway.dispatch(shard, event, data)

    async def join_guild(self, name: str = "Another Guild") -> int:
        """Add the bot to a new guild (GUILD_CREATE, as when someone invites it); its id."""
        guild = self.new_guild(name)
        await self.dispatch("GUILD_CREATE", self.guild_join_payload(guild), guild_id=guild.id)
        return guild.id

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the bot's websocket(s) server-side; discord.py reconnects and RESUMEs."""
        await self.gateway.drop(code)

    async def send_reconnect(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT; discord.py closes the socket and RESUMEs."""
        await self.gateway.send_op(shard_id, OP_RECONNECT)

    @property
    def ack_heartbeats(self) -> bool:
        return self.gateway.ack_heartbeats

    @ack_heartbeats.setter
    def ack_heartbeats(self, value: bool) -> None:
        self.gateway.ack_heartbeats = value

    # ------------------------------------------------------------------ interactions

    async def slash(
        self,
        name: str,
        *,
        user: Any = None,
        options: Mapping[str, Any] | list[JSON] | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        channel: Any = None,
        locale: str = "en-US",
        dm: bool = False,
        attachment_size_limit: int | None = None,
    ) -> InteractionHandle:
        """Invoke a slash command (``name`` may be ``"group sub"``)."""
        chan = self.dm_channel(user) if dm else self.resolve_channel(channel)
        data = self._command_data(name, chan, [group, subcommand], options or {})
        return await self._interact(
            APPLICATION_COMMAND, data, user, chan, locale=locale, limit=attachment_size_limit
        )

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        *,
        user: Any = None,
        options: Mapping[str, Any] | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        channel: Any = None,
        dm: bool = False,
    ) -> InteractionHandle:
        """Send an autocomplete request while option ``focused`` reads ``value``."""
        chan = self.dm_channel(user) if dm else self.resolve_channel(channel)
        data = self._command_data(name, chan, [group, subcommand], options or {})
        schema = self._command_schema(name.split()[0], 1) or {}
        focus(data.setdefault("options", []), focused, value, schema.get("options"))
        data.pop("resolved", None)
        return await self._interact(AUTOCOMPLETE, data, user, chan)

    async def context_menu(
        self, name: str, *, user: Any = None, message: Any = None, target_user: Any = None
    ) -> InteractionHandle:
        """Invoke a message (``message=``) or user (``target_user=``) context menu command."""
        if message is not None:
            target = self.resolve_message(message)
            chan = self.resolve_channel(target.channel_id)
            data = self._command_stub(name, 3, chan)
            resolved = {"messages": {str(target.id): target.payload()}}
            data.update(target_id=str(target.id), resolved=resolved)
        else:
            chan = self.channel
            data = self._command_stub(name, 2, chan)
            builder = OptionBuilder(self, chan)
            data.update(target_id=builder.wire_value(target_user, 6), resolved=builder.resolved)
        return await self._interact(APPLICATION_COMMAND, data, user, chan)

    async def click(
        self,
        message: Any,
        custom_id: str,
        *,
        user: Any = None,
        values: list[Any] | None = None,
        component_type: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Click a button, or pick ``values`` in a select, of a stored message (from a client
        in ``locale``)."""
        target = self.resolve_message(message)
        component = target.find_component(custom_id) or {}
        if not component and component_type is None:
            raise LookupError(f"message {target.id} has no component {custom_id!r}")
        kind = component_type or int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": kind}
        if "id" in component:
            data["id"] = component["id"]
        chan = self.resolve_channel(target.channel_id)
        if kind != 2:
            builder = OptionBuilder(self, chan)
            wire_type = SELECT_VALUE_TYPES.get(kind)
            picked = values or []
            data["values"] = [
                builder.wire_value(v, wire_type) if wire_type else str(v) for v in picked
            ]
            if builder.resolved:
                data["resolved"] = builder.resolved
        return await self._interact(
            MESSAGE_COMPONENT, data, user, chan, message=target, locale=locale
        )

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, Any],
        *,
        user: Any = None,
        message: Any = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Submit the modal the bot opened with ``custom_id`` (values keyed by custom_id).

        Defaults come from the interaction that opened it: same user, same channel and, for a
        modal opened from a component, that component's message."""
        opener = self.modals.get(custom_id)
        template = (opener.modal or {}).get("components") if opener else None
        components = (
            modal_submit_components(template, values)
            if template
            else fallback_modal_components(values)
        )
        data: JSON = {"custom_id": custom_id, "components": components}
        chan = self.resolve_channel(opener.channel_id if opener else None)
        resolved = self._uploaded_files(template or [], values, chan)
        if resolved:
            data["resolved"] = resolved
        origin = message if message is not None else (opener.message_id if opener else None)
        target = self.resolve_message(origin) if origin is not None else None
        if user is None and opener is not None:
            user = opener.user
        return await self._interact(MODAL_SUBMIT, data, user, chan, message=target, locale=locale)

    def _uploaded_files(
        self, template: list[JSON], values: Mapping[str, Any], chan: FakeChannel
    ) -> JSON:
        """``resolved.attachments`` for the modal's file-upload components."""
        builder = OptionBuilder(self, chan)
        for component in walk_components(template):
            if component.get("type") == 19:
                for item in values.get(component.get("custom_id", ""), []) or []:
                    builder.wire_value(item, 11)
        return builder.resolved

    def _command_schema(self, name: str, command_type: int) -> JSON | None:
        """The registered command, guild scope first (as Discord resolves it)."""
        guild_commands = self.registered_commands.get(self.guild.id, [])
        global_commands = self.registered_commands.get(None, [])
        return find_command(guild_commands, name, command_type) or find_command(
            global_commands, name, command_type
        )

    def _command_stub(self, name: str, command_type: int, channel: FakeChannel) -> JSON:
        """``data`` with the registered id (a stable made-up one if never registered)."""
        command = self._command_schema(name, command_type)
        if command is not None:
            command_id = int(command["id"])
        else:
            key = (name, command_type)
            command_id = self.adhoc_command_ids.setdefault(key, self.snowflake())
        data: JSON = {"id": str(command_id), "name": name, "type": command_type}
        if command is not None and "guild_id" in command and not channel.is_dm:
            data["guild_id"] = command["guild_id"]
        return data

    def _command_data(
        self,
        name: str,
        channel: FakeChannel,
        extra_path: list[str | None],
        options: Mapping[str, Any] | list[JSON],
    ) -> JSON:
        root, *path = name.split()
        path += [p for p in extra_path if p]
        data = self._command_stub(root, 1, channel)
        builder = OptionBuilder(self, channel)

        def leaf(schema: list[JSON] | None) -> list[JSON]:
            return builder.build(options, schema)

        data["options"] = nest_subcommands(self._command_schema(root, 1), path, leaf)
        if builder.resolved:
            data["resolved"] = builder.resolved
        return data

    async def _interact(
        self,
        kind: int,
        data: JSON,
        user: Any,
        channel: FakeChannel,
        *,
        message: StoredMessage | None = None,
        locale: str = "en-US",
        limit: int | None = None,
    ) -> InteractionHandle:
        member = self.resolve_member(user)
        handle = InteractionHandle(
            fake=self,
            id=self.snowflake(),
            token=f"fake-itoken-{secrets.token_urlsafe(24)}",
            type=kind,
            payload={},
            user=member,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            message_id=message.id if message else None,
            attachment_size_limit=limit or self.attachment_size_limit,
        )
        handle.payload = self.interaction_payload(handle, data, member, channel, message, locale)
        self.interactions[handle.id] = handle
        await self.settle()
        await self.dispatch("INTERACTION_CREATE", handle.payload, guild_id=channel.guild_id)
        return handle

    # ------------------------------------------------------------------ user messages

    async def user_message(
        self,
        channel: Any = None,
        author: Any = None,
        content: str = "",
        *,
        attachments: Iterable[Any] = (),
        mentions: Iterable[Any] = (),
        reference: Any = None,
        embeds: Iterable[JSON] = (),
    ) -> MessageHandle:
        """A member posts a message (MESSAGE_CREATE).

        ``<@id>`` mentions in ``content`` (e.g. ``fake.bot_mention``) are parsed, ``mentions``
        adds more (``"bot"`` means the bot); ``attachments`` are ``add_attachment()`` dicts or
        ``(filename, bytes[, content_type])`` tuples; ``reference`` makes it a reply."""
        chan = self.resolve_channel(channel)
        member = self.resolve_member(author)
        message = StoredMessage(
            id=self.snowflake(),
            channel_id=chan.id,
            guild_id=chan.guild_id,
            author=member.user,
            member=None if chan.is_dm else member,
            content=content,
            embeds=list(embeds),
            attachments=[self._user_attachment(chan, a) for a in attachments],
        )
        message.mentions = self._mentions(content, mentions)
        message.mention_roles = [int(r) for r in ROLE_MENTION.findall(content)]
        if reference is not None:
            self._make_reply(message, self.resolve_message(reference))
        self.store_message(message)
        await self.settle()
        delivered = await self._deliver(message)
        return MessageHandle(self, message, delivered)

    def _make_reply(self, message: StoredMessage, replied: StoredMessage) -> None:
        """Reply to ``replied``; its author is mentioned (pinged), as by default in clients."""
        self.apply_reference(message, {"message_id": replied.id})
        if all(m.id != replied.author.id for m in message.mentions):
            author: FakeMember | FakeUser = (
                self.guild.members.get(replied.author.id) or replied.author
            )
            message.mentions.append(author)

    def _user_attachment(self, channel: FakeChannel, item: Any) -> StoredAttachment:
        if isinstance(item, tuple):
            content_type = item[2] if len(item) > 2 else None
            upload = UploadedFile("files[0]", item[0], content_type, item[1])
            return self.new_attachment(channel.id, upload, {})
        return self.resolve_attachment(item)

    def _mentions(self, content: str, extra: Iterable[Any]) -> list[FakeMember | FakeUser]:
        ids = [int(i) for i in USER_MENTION.findall(content)]
        ids += [self.bot_user.id if who == "bot" else self.resolve_member(who).id for who in extra]
        unique = dict.fromkeys(ids)
        return [self.guild.members[i] for i in unique if i in self.guild.members]

    async def _deliver(self, message: StoredMessage) -> bool:
        """MESSAGE_CREATE as Discord would send it given the session's intents."""
        session = self.gateway.session_for_shard(self.shard_of(message.guild_id))
        dm = message.guild_id is None
        if not session.has_intent(INTENT_DIRECT_MESSAGES if dm else INTENT_GUILD_MESSAGES):
            log.info("fake discord: message %s not delivered (intent missing)", message.id)
            return False
        payload = message.payload(gateway=True)
        mentioned = any(m.id == self.bot_user.id for m in message.mentions)
        if not (dm or mentioned or session.has_intent(INTENT_MESSAGE_CONTENT)):
            payload.update(content="", embeds=[], attachments=[], components=[])
        await self.gateway.dispatch(session.shard_id, "MESSAGE_CREATE", payload)
        return True

"""The REST half of the fake Discord (``/api/v10/...`` plus the attachment CDN).

Every request is recorded (:class:`RecordedRequest`), may be answered by an injected fault,
and is otherwise routed to a handler.  Handlers raise :class:`ApiError` for Discord's error
responses.  Changes to the bot's own messages are echoed over the gateway like Discord does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord_gateway import FakeGateway
from tests.fakes.discord_interactions import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MODAL,
    UPDATE_MESSAGE,
    InteractionHandle,
    find_command,
)
from tests.fakes.discord_messages import (
    CREATE_FLAGS,
    EDIT_FLAGS,
    INTERACTION_CREATE_FLAGS,
    ApiError,
    apply_message_body,
    check_upload_size,
    form_error,
    validate_choices,
    validate_message,
    validate_modal,
)
from tests.fakes.discord_models import (
    ATTACH_FILES,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    JSON,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeChannel,
    FakeMember,
    FaultRule,
    InteractionCallback,
    RecordedRequest,
    StoredAttachment,
    StoredMessage,
    UploadedFile,
)
from tests.fakes.discord_world import API_PREFIX, FakeWorld

log = logging.getLogger(__name__)

CDN_PATH = re.compile(r"/(?:media-proxy/)?(?:ephemeral-)?attachments/(\d+)/(\d+)/[^/]+")
MANAGE_MESSAGES = 1 << 13
READ_MESSAGE_HISTORY = 1 << 16

Handler = Callable[..., Awaitable[web.StreamResponse]]
#: the "status" of a fault that closes the connection instead of answering
DROP = 0


class _Dropped(Exception):
    """The connection of this request is to be closed without an answer."""


@dataclass
class _Delay:
    """Matching requests are answered ``seconds`` late, ``remaining`` more times."""

    method: str
    pattern: re.Pattern[str]
    seconds: float
    remaining: int


@dataclass
class _Hook:
    """A test's action on matching requests (see ``FakeRest.on_request``)."""

    method: str
    pattern: re.Pattern[str]
    action: Callable[[RecordedRequest], bool]
    remaining: int


@dataclass
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    files: list[UploadedFile]
    headers: Mapping[str, str]

    @property
    def body(self) -> JSON:
        return self.json if isinstance(self.json, dict) else {}

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response with exactly ``Content-Type: application/json``.

    discord.py only decodes bodies whose content type is *exactly* that string, so
    ``web.json_response`` (which appends ``; charset=utf-8``) cannot be used.
    """
    body = json.dumps(data, separators=(",", ":")).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=body, status=status, headers=all_headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def rate_limit_headers(retry_after: float) -> dict[str, str]:
    return {
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": "fake-bucket",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",  # without it discord.py treats a 429 as a Cloudflare ban
    }


async def parse_request(request: web.Request, path: str) -> ApiRequest:
    """JSON bodies, or multipart with ``payload_json`` + ``files[n]`` parts."""
    body: Any = None
    files: list[UploadedFile] = []
    if request.content_type == "multipart/form-data":
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read(decode=False))
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                content_type = part.headers.get("Content-Type")
                files.append(
                    UploadedFile(part.name or "", part.filename or "file", content_type, data)
                )
    elif request.can_read_body:
        raw = await request.read()
        if raw and request.content_type == "application/json":
            body = json.loads(raw)
    return ApiRequest(request.method, path, request.query, body, files, request.headers)


class FakeRest:
    """Routes, records and answers HTTP requests against a :class:`FakeWorld`."""

    def __init__(
        self, world: FakeWorld, gateway: FakeGateway, on_change: Callable[[], None]
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[tuple[str, str]] = []
        self.faults: list[FaultRule] = []
        self.hooks: list[_Hook] = []
        self.delays: list[_Delay] = []
        self.active: set[int] = set()  # serial numbers of requests being answered
        self._serial = itertools.count()
        self._on_change = on_change
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them."""
        if body is None:
            body = (
                {"message": "You are being rate limited.", "retry_after": 0.1, "global": False}
                if status == 429
                else {"message": f"{status}: {HTTPStatus(status).phrase}", "code": 0}
            )
        all_headers = dict(headers or {})
        if status == 429:
            all_headers = {**rate_limit_headers(float(body.get("retry_after", 0.1))), **all_headers}
        pattern = re.compile(path_pattern)
        self.faults.append(FaultRule(method.upper(), pattern, status, body, all_headers, times))

    def drop_next(self, method: str, path_pattern: str, times: int = 1) -> None:
        """Close the connection on the next ``times`` matching requests without an answer
        (the client sees the server disconnect, as on a network failure)."""
        pattern = re.compile(path_pattern)
        self.faults.append(FaultRule(method.upper(), pattern, DROP, None, {}, times))

    def delay_next(self, method: str, path_pattern: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` matching requests ``seconds`` late (a slow Discord)."""
        self.delays.append(_Delay(method.upper(), re.compile(path_pattern), seconds, times))

    async def _delay(self, method: str, path: str) -> None:
        for rule in self.delays:
            if rule.method in ("*", method) and rule.pattern.fullmatch(path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.delays.remove(rule)
                await asyncio.sleep(rule.seconds)
                return

    def on_request(
        self,
        method: str,
        path_pattern: str,
        action: Callable[[RecordedRequest], bool],
        times: int = 1,
    ) -> None:
        """Call ``action(request)`` when a matching request arrives, before it is answered;
        each call that returns True counts towards ``times``."""
        self.hooks.append(_Hook(method.upper(), re.compile(path_pattern), action, times))

    def _run_hooks(self, record: RecordedRequest) -> None:
        for hook in list(self.hooks):
            if hook.method not in ("*", record.method) or not hook.pattern.fullmatch(record.path):
                continue
            if hook.action(record):
                hook.remaining -= 1
                if hook.remaining <= 0:
                    self.hooks.remove(hook)

    def _take_fault(self, method: str, path: str) -> FaultRule | None:
        for rule in self.faults:
            if rule.method in ("*", method) and rule.pattern.fullmatch(path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.faults.remove(rule)
                return rule
        return None

    # ------------------------------------------------------------------ plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        app = r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands"
        hook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        hook_msg = hook + r"/messages/(?P<message_id>@original|\d+)"
        chan = r"/channels/(?P<channel_id>\d+)"
        msg = chan + r"/messages/(?P<message_id>\d+)"
        guild = r"/guilds/(?P<guild_id>\d+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("DELETE", r"/users/@me/guilds/(?P<guild_id>\d+)", self._leave_guild),
            ("GET", r"(?:/oauth2)?/applications/@me", self._get_application),
            ("GET", app, self._get_commands),
            ("PUT", app, self._put_commands),
            ("POST", app, self._post_command),
            ("GET", app + r"/(?P<command_id>\d+)", self._get_command),
            ("DELETE", app + r"/(?P<command_id>\d+)", self._delete_command),
            (
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._callback,
            ),
            ("GET", hook_msg, self._get_webhook_message),
            ("PATCH", hook_msg, self._edit_webhook_message),
            ("DELETE", hook_msg, self._delete_webhook_message),
            ("POST", hook, self._execute_webhook),
            ("GET", chan, self._get_channel),
            ("GET", chan + r"/messages", self._get_channel_messages),
            ("POST", chan + r"/messages", self._create_channel_message),
            ("GET", msg, self._get_channel_message),
            ("PATCH", msg, self._edit_channel_message),
            ("DELETE", msg, self._delete_channel_message),
            ("PUT", msg + r"/reactions/(?P<emoji>[^/]+)/@me", self._reaction),
            ("DELETE", msg + r"/reactions/(?P<emoji>[^/]+)/@me", self._reaction),
            ("POST", chan + r"/typing", self._typing),
            ("GET", guild, self._get_guild),
            ("GET", guild + r"/channels", self._get_guild_channels),
            ("GET", guild + r"/roles", self._get_guild_roles),
            ("GET", guild + r"/members/(?P<user_id>\d+)", self._get_member),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp entry point for everything except the gateway websocket."""
        serial = next(self._serial)
        self.active.add(serial)
        try:
            try:
                response = await self._record_and_answer(request)
            except _Dropped:
                if request.transport is not None:
                    request.transport.close()
                raise web.HTTPInternalServerError() from None  # never reaches the client
            # Written out before returning: once a request leaves ``active`` the client has
            # the whole response.
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            self.active.discard(serial)
            self._on_change()

    @property
    def in_flight(self) -> int:
        return len(self.active)

    async def _record_and_answer(self, request: web.Request) -> web.StreamResponse:
        is_api = request.path.startswith(API_PREFIX + "/")
        path = request.path.removeprefix(API_PREFIX) if is_api else request.path
        req = await parse_request(request, path)
        record = RecordedRequest(req.method, path, req.json, req.files, dict(request.query))
        self.requests.append(record)
        self._run_hooks(record)
        try:
            response = await self._answer(req, is_api=is_api)
        except ApiError as error:
            response = json_response(error.body(), error.status)
        record.status = response.status
        return response

    async def _answer(self, req: ApiRequest, *, is_api: bool) -> web.StreamResponse:
        await self._delay(req.method, req.path)
        fault = self._take_fault(req.method, req.path)
        if fault is not None and fault.status == DROP:
            raise _Dropped
        if fault is not None:
            return json_response(fault.body, fault.status, fault.headers)
        if not is_api:
            return self._serve_cdn(req)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                self._check_auth(req)
                return await handler(req, **{k: v for k, v in match.groupdict().items() if v})
        log.warning("fake discord: unhandled %s %s", req.method, req.path)
        self.unhandled.append((req.method, req.path))
        return json_response({"message": "Unknown", "code": 0}, 404)

    def _check_auth(self, req: ApiRequest) -> None:
        if req.path.startswith(("/webhooks/", "/interactions/")):
            return  # authenticated by the token in the URL
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bot ") or not self.world.check_token(auth):
            raise ApiError(401, 0, "401: Unauthorized")

    def _serve_cdn(self, req: ApiRequest) -> web.Response:
        match = CDN_PATH.fullmatch(req.path)
        stored = self.world.cdn.get(int(match.group(2))) if match else None
        if stored is not None and not stored.serves(req.query):
            return web.Response(status=404, text="This content is no longer available.")
        if req.method != "GET" or stored is None:
            self.unhandled.append((req.method, req.path))
            return web.Response(status=404, text="Not Found")
        content_type = stored.content_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    # ------------------------------------------------------------------ meta, users, app

    async def _get_gateway(self, req: ApiRequest) -> web.Response:
        return json_response({"url": self.world.gateway_url})

    async def _get_gateway_bot(self, req: ApiRequest) -> web.Response:
        limit = {
            "total": 1000,
            "remaining": 999,
            "reset_after": 0,
            "max_concurrency": self.world.max_concurrency,
        }
        body = {"url": self.world.gateway_url, "shards": self.world.shard_count}
        return json_response({**body, "session_start_limit": limit})

    async def _get_me(self, req: ApiRequest) -> web.Response:
        me = self.world.bot_user.payload()
        return json_response({**me, "verified": True, "mfa_enabled": False})

    async def _get_user(self, req: ApiRequest, user_id: str) -> web.Response:
        member = self.world.guild.members.get(int(user_id))
        if member is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(member.user.payload())

    async def _create_dm(self, req: ApiRequest) -> web.Response:
        return json_response(self.world.dm_channel(int(req.body["recipient_id"])).payload())

    async def _get_application(self, req: ApiRequest) -> web.Response:
        world = self.world
        return json_response(
            {
                "id": str(world.application_id),
                "name": world.bot_user.username,
                "icon": None,
                "description": "Fake application",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": world.owner.user.payload(),
                "team": None,
                "flags": world.application_flags,
                "bot": world.bot_user.payload(),
                "interactions_endpoint_url": None,  # else discord.py warns it gets no events
                "redirect_uris": [],
                "approximate_guild_count": 1,
                "tags": [],
                "install_params": None,
                "integration_types_config": {"0": {}},
            }
        )

    # ------------------------------------------------------------------ application commands

    def _scope(self, app_id: str, guild_id: str | None) -> int | None:
        if int(app_id) != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")
        if guild_id is not None and int(guild_id) != self.world.guild.id:
            raise ApiError(403, 50001, "Missing Access")
        return None if guild_id is None else int(guild_id)

    def _register_command(self, scope: int | None, body: JSON, existing: list[JSON]) -> JSON:
        kind = int(body.get("type", 1))
        old = find_command(existing, body["name"], kind)
        command = {
            "type": kind,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            "contexts": None,
            "integration_types": [0],
            **body,
            "id": old["id"] if old else str(self.world.snowflake()),
            "application_id": str(self.world.application_id),
            "version": str(self.world.snowflake()),
        }
        if scope is not None:
            command["guild_id"] = str(scope)
        return command

    def _command_by_id(self, scope: int | None, command_id: str) -> JSON:
        commands = self.world.registered_commands.get(scope, [])
        found = next((c for c in commands if c["id"] == command_id), None)
        if found is None:
            raise ApiError(404, 10063, "Unknown application command")
        return found

    async def _get_commands(
        self, req: ApiRequest, app_id: str, guild_id: str | None = None
    ) -> web.Response:
        return json_response(self.world.commands(self._scope(app_id, guild_id)))

    async def _put_commands(
        self, req: ApiRequest, app_id: str, guild_id: str | None = None
    ) -> web.Response:
        scope = self._scope(app_id, guild_id)
        existing = self.world.registered_commands.get(scope, [])
        bodies = req.json if isinstance(req.json, list) else []
        commands = [self._register_command(scope, c, existing) for c in bodies]
        self.world.registered_commands[scope] = commands
        return json_response(commands)

    async def _post_command(
        self, req: ApiRequest, app_id: str, guild_id: str | None = None
    ) -> web.Response:
        scope = self._scope(app_id, guild_id)
        existing = self.world.registered_commands.setdefault(scope, [])
        command = self._register_command(scope, req.body, existing)
        existing[:] = [c for c in existing if c["id"] != command["id"]] + [command]
        return json_response(command, 201)

    async def _get_command(
        self, req: ApiRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> web.Response:
        return json_response(self._command_by_id(self._scope(app_id, guild_id), command_id))

    async def _delete_command(
        self, req: ApiRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> web.Response:
        scope = self._scope(app_id, guild_id)
        self.world.registered_commands[scope].remove(self._command_by_id(scope, command_id))
        return no_content()

    # ------------------------------------------------------------------ guild and channels

    def _check_guild(self, guild_id: str) -> None:
        if int(guild_id) != self.world.guild.id:
            raise ApiError(404, 10004, "Unknown Guild")

    async def _leave_guild(self, req: ApiRequest, guild_id: str) -> web.Response:
        """The bot leaves: 204, then GUILD_DELETE over the gateway, like Discord."""
        gid = int(guild_id)
        known = gid == self.world.guild.id or gid in self.world.extra_guilds
        if not known or gid in self.world.left_guild_ids:
            raise ApiError(404, 10004, "Unknown Guild")
        self.world.left_guild_ids.append(gid)
        shard = self.world.shard_of(gid)
        if shard in self.gateway.by_shard:
            await self.gateway.dispatch(shard, "GUILD_DELETE", {"id": guild_id})
        return no_content()

    async def _get_guild(self, req: ApiRequest, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        return json_response(self.world.guild.payload())

    async def _get_guild_channels(self, req: ApiRequest, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        channels = self.world.guild.channels.values()
        return json_response([c.payload() for c in channels if not c.is_dm])

    async def _get_guild_roles(self, req: ApiRequest, guild_id: str) -> web.Response:
        self._check_guild(guild_id)
        return json_response([r.payload() for r in self.world.guild.roles.values()])

    async def _get_member(self, req: ApiRequest, guild_id: str, user_id: str) -> web.Response:
        self._check_guild(guild_id)
        member = self.world.guild.members.get(int(user_id))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    def _channel(self, channel_id: str | int) -> FakeChannel:
        channel = self.world.guild_channel(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _require(self, channel: FakeChannel, needed: int) -> None:
        """403 unless the bot has ``needed`` in ``channel`` (50001 without VIEW_CHANNEL)."""
        perms = self.world.permissions_for(self.world.bot_member, channel)
        if not perms & VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if perms & needed != needed:
            raise ApiError(403, 50013, "Missing Permissions")

    async def _get_channel(self, req: ApiRequest, channel_id: str) -> web.Response:
        channel = self._channel(channel_id)
        self._require(channel, 0)
        return json_response(channel.payload())

    async def _typing(self, req: ApiRequest, channel_id: str) -> web.Response:
        self._require(self._channel(channel_id), SEND_MESSAGES)
        return no_content()

    async def _reaction(
        self, req: ApiRequest, channel_id: str, message_id: str, emoji: str
    ) -> web.Response:
        self._channel_message(channel_id, message_id)
        return no_content()

    # ------------------------------------------------------------------ channel messages

    def _channel_message(self, channel_id: str, message_id: str) -> StoredMessage:
        channel = self._channel(channel_id)
        message = self.world.stored_messages.get(int(message_id))
        if message is None or message.channel_id != channel.id or message.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        if message.ephemeral:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    async def _get_channel_messages(self, req: ApiRequest, channel_id: str) -> web.Response:
        channel = self._channel(channel_id)
        self._require(channel, READ_MESSAGE_HISTORY)
        limit = int(req.query.get("limit", 50))
        before = int(req.query.get("before", 1 << 63))
        after = int(req.query.get("after", 0))
        visible = [
            m for m in self.world.messages(channel) if not m.ephemeral and after < m.id < before
        ]
        newest_first = sorted(visible, key=lambda m: m.id, reverse=True)
        if "around" in req.query:  # half older (the id itself included), half newer
            around = int(req.query["around"])
            older = [m for m in newest_first if m.id <= around][: limit - limit // 2]
            newer = [m for m in reversed(newest_first) if m.id > around][: limit // 2]
            return json_response([m.payload() for m in [*reversed(newer), *older]])
        if "after" in req.query:
            newest_first = newest_first[-limit:]
        return json_response([m.payload() for m in newest_first[:limit]])

    async def _get_channel_message(
        self, req: ApiRequest, channel_id: str, message_id: str
    ) -> web.Response:
        return json_response(self._channel_message(channel_id, message_id).payload())

    async def _create_channel_message(self, req: ApiRequest, channel_id: str) -> web.Response:
        channel = self._channel(channel_id)
        self._require(channel, SEND_MESSAGES | (ATTACH_FILES if req.files else 0))
        validate_message(req.body, req.files, creating=True)
        check_upload_size(req.files, channel.upload_limit)
        earlier = self._same_nonce(channel, req.body)
        if earlier is not None:
            # Discord: with enforce_nonce, a repeat within minutes returns the first message.
            return json_response(earlier.payload())
        message = self._new_bot_message(channel)
        if req.body.get("nonce"):
            message.nonce = str(req.body["nonce"])
        self.world.apply_reference(message, req.body.get("message_reference"))
        self._apply_body(message, req.body, req.files, creating=True, allowed_flags=CREATE_FLAGS)
        await self._store_and_echo(message)
        return json_response(message.payload())

    def _same_nonce(self, channel: FakeChannel, body: JSON) -> StoredMessage | None:
        nonce = body.get("nonce")
        if not nonce or not body.get("enforce_nonce"):
            return None
        return next(
            (
                m
                for m in self.world.messages(channel)
                if m.nonce == str(nonce) and m.author.id == self.world.bot_user.id
            ),
            None,
        )

    async def _edit_channel_message(
        self, req: ApiRequest, channel_id: str, message_id: str
    ) -> web.Response:
        message = self._channel_message(channel_id, message_id)
        if message.author.id != self.world.bot_user.id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        channel = self._channel(channel_id)
        if req.files:
            self._require(channel, ATTACH_FILES)
        await self._edit_message(message, req, channel.upload_limit)
        return json_response(message.payload())

    async def _delete_channel_message(
        self, req: ApiRequest, channel_id: str, message_id: str
    ) -> web.Response:
        message = self._channel_message(channel_id, message_id)
        if message.author.id != self.world.bot_user.id:
            self._require(self._channel(channel_id), MANAGE_MESSAGES)
        await self._delete_message(message)
        return no_content()

    # ------------------------------------------------------------------ message helpers

    def _new_bot_message(
        self, channel: FakeChannel, handle: InteractionHandle | None = None
    ) -> StoredMessage:
        world = self.world
        message = StoredMessage(
            id=world.snowflake(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=world.bot_user,
            member=None if channel.is_dm else world.bot_member,
        )
        if handle is not None:
            message.webhook_id = message.application_id = world.application_id
            message.interaction_metadata = self._interaction_metadata(handle)
            message.type = _response_message_type(handle)
        return message

    def _apply_body(
        self,
        message: StoredMessage,
        body: JSON,
        files: list[UploadedFile],
        *,
        creating: bool,
        allowed_flags: int,
    ) -> None:
        def new_attachment(upload: UploadedFile, entry: JSON) -> StoredAttachment:
            return self.world.new_attachment(message.channel_id, upload, entry)

        apply_message_body(
            message, body, files, new_attachment, creating=creating, allowed_flags=allowed_flags
        )

    async def _edit_message(
        self, message: StoredMessage, req: ApiRequest, upload_limit: int
    ) -> None:
        validate_message(req.body, req.files, creating=False)
        check_upload_size(req.files, upload_limit)
        self._apply_body(message, req.body, req.files, creating=False, allowed_flags=EDIT_FLAGS)
        message.flags &= ~FLAG_LOADING
        await self._echo(message, "MESSAGE_UPDATE")

    async def _store_and_echo(self, message: StoredMessage) -> None:
        self.world.store_message(message)
        await self._echo(message, "MESSAGE_CREATE")

    async def _delete_message(self, message: StoredMessage) -> None:
        message.deleted = True
        if message.ephemeral:
            return
        data = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            data["guild_id"] = str(message.guild_id)
        await self._echo_raw(message, "MESSAGE_DELETE", data)

    async def _echo(self, message: StoredMessage, event: str) -> None:
        """The bot's own messages come back over the gateway (ephemeral ones do not)."""
        if not message.ephemeral:
            await self._echo_raw(message, event, message.payload(gateway=True))

    async def _echo_raw(self, message: StoredMessage, event: str, data: JSON) -> None:
        session = self.gateway.by_shard.get(self.world.shard_of(message.guild_id))
        intent = INTENT_DIRECT_MESSAGES if message.guild_id is None else INTENT_GUILD_MESSAGES
        if session is not None and session.has_intent(intent):
            await self.gateway.dispatch(session.shard_id, event, data)

    # ------------------------------------------------------------------ interaction callback

    def _handle_for_callback(self, interaction_id: str, token: str) -> InteractionHandle:
        handle = self.world.interactions.get(int(interaction_id))
        if handle is None or handle.token != token or self.world.token_expired(handle):
            raise ApiError(404, 10062, "Unknown interaction")
        deadline = self.world.callback_deadline
        if deadline is not None and time.monotonic() - handle.created_at > deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        return handle

    async def _callback(self, req: ApiRequest, interaction_id: str, token: str) -> web.Response:
        handle = self._handle_for_callback(interaction_id, token)
        if handle.callback is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        kind = int(req.body.get("type", 0))
        data = req.body.get("data") or {}
        _check_callback_type(handle, kind)
        check_upload_size(req.files, handle.attachment_size_limit)
        message = await self._apply_callback(handle, kind, data, req.files)
        handle.callback = InteractionCallback(kind, req.body.get("data"), req.files, message)
        if not req.flag("with_response"):
            return no_content()
        return json_response(_callback_body(handle, kind, message))

    async def _apply_callback(
        self, handle: InteractionHandle, kind: int, data: JSON, files: list[UploadedFile]
    ) -> StoredMessage | None:
        if kind == CHANNEL_MESSAGE:
            validate_message(data, files, creating=True)
            return await self._create_response_message(handle, data, files)
        if kind == DEFERRED_CHANNEL_MESSAGE:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            return await self._create_response_message(handle, {"flags": flags}, [], allowed=flags)
        if kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            return await self._update_component_message(handle, kind, data, files)
        if kind == MODAL:
            validate_modal(data)
            handle.modal = data
            self.world.modals[data["custom_id"]] = handle
        elif kind == AUTOCOMPLETE_RESULT:
            validate_choices(data)
        return None

    async def _create_response_message(
        self,
        handle: InteractionHandle,
        data: JSON,
        files: list[UploadedFile],
        *,
        allowed: int = INTERACTION_CREATE_FLAGS,
    ) -> StoredMessage:
        message = self._new_bot_message(self.world.resolve_channel(handle.channel_id), handle)
        self._apply_body(message, data, files, creating=True, allowed_flags=allowed)
        handle.original_message_id = message.id
        await self._store_and_echo(message)
        return message

    async def _update_component_message(
        self, handle: InteractionHandle, kind: int, data: JSON, files: list[UploadedFile]
    ) -> StoredMessage:
        handle.original_message_id = handle.message_id
        message = handle.original
        assert message is not None
        if kind == UPDATE_MESSAGE:
            validate_message(data, files, creating=False)
            self._apply_body(message, data, files, creating=False, allowed_flags=EDIT_FLAGS)
            await self._echo(message, "MESSAGE_UPDATE")
        return message

    def _interaction_metadata(self, handle: InteractionHandle) -> JSON:
        user = handle.user.user if isinstance(handle.user, FakeMember) else handle.user
        metadata: JSON = {
            "id": str(handle.id),
            "type": handle.type,
            "user": user.payload(),
            "authorizing_integration_owners": handle.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if handle.type == APPLICATION_COMMAND:
            metadata["name"] = handle.data.get("name")
            metadata["command_type"] = handle.data.get("type", 1)
        if handle.message_id is not None:
            metadata["interacted_message_id"] = str(handle.message_id)
        if handle.original_message_id is not None:
            metadata["original_response_message_id"] = str(handle.original_message_id)
        return metadata

    # ------------------------------------------------------------------ interaction webhooks

    def _webhook_handle(self, app_id: str, token: str) -> InteractionHandle:
        """The interaction behind ``/webhooks/{app}/{token}``; 404 10015 once the token expired
        (or before the interaction was acknowledged)."""
        world = self.world
        handle = next((h for h in world.interactions.values() if h.token == token), None)
        if handle is None or int(app_id) != world.application_id or world.token_expired(handle):
            raise ApiError(404, 10015, "Unknown Webhook")
        if handle.callback is None:
            raise ApiError(404, 10015, "Unknown Webhook")
        return handle

    def _webhook_message(self, handle: InteractionHandle, message_id: str) -> StoredMessage:
        if message_id == "@original":
            message = handle.original
        else:
            own = {handle.original_message_id, *(m.id for m in handle.followups)}
            found = int(message_id) in own
            message = self.world.stored_messages.get(int(message_id)) if found else None
        if message is None or message.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        return message

    async def _get_webhook_message(
        self, req: ApiRequest, app_id: str, token: str, message_id: str
    ) -> web.Response:
        handle = self._webhook_handle(app_id, token)
        return json_response(self._webhook_message(handle, message_id).payload())

    async def _edit_webhook_message(
        self, req: ApiRequest, app_id: str, token: str, message_id: str
    ) -> web.Response:
        handle = self._webhook_handle(app_id, token)
        message = self._webhook_message(handle, message_id)
        await self._edit_message(message, req, handle.attachment_size_limit)
        if message.id == handle.original_message_id:
            handle.edits.append(message.snapshot())
        return json_response(message.payload())

    async def _delete_webhook_message(
        self, req: ApiRequest, app_id: str, token: str, message_id: str
    ) -> web.Response:
        handle = self._webhook_handle(app_id, token)
        await self._delete_message(self._webhook_message(handle, message_id))
        return no_content()

    async def _execute_webhook(self, req: ApiRequest, app_id: str, token: str) -> web.Response:
        handle = self._webhook_handle(app_id, token)
        validate_message(req.body, req.files, creating=True)
        check_upload_size(req.files, handle.attachment_size_limit)
        original = handle.original
        if original is not None and original.loading:
            # Discord: the first followup after a deferred response edits the loading message
            # instead of creating one (and ignores the ephemeral flag).
            await self._edit_message(original, req, handle.attachment_size_limit)
            message = original
        else:
            channel = self.world.resolve_channel(handle.channel_id)
            message = self._new_bot_message(channel, handle)
            flags = INTERACTION_CREATE_FLAGS
            self._apply_body(message, req.body, req.files, creating=True, allowed_flags=flags)
            await self._store_and_echo(message)
        handle.followups.append(message)
        return json_response(message.payload()) if req.flag("wait") else no_content()


def _check_callback_type(handle: InteractionHandle, kind: int) -> None:
    allowed = ALLOWED_CALLBACKS.get(handle.type, set())
    needs_message = kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE)
    if kind not in allowed or (needs_message and handle.message_id is None):
        invalid = ("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid type {kind}")
        raise form_error([invalid])


def _callback_body(handle: InteractionHandle, kind: int, message: StoredMessage | None) -> JSON:
    """What ``?with_response=true`` returns (discord.py 2.5+ parses it)."""
    interaction: JSON = {
        "id": str(handle.id),
        "type": handle.type,
        "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
        "response_message_ephemeral": bool(message and message.ephemeral),
    }
    if message is not None:
        interaction["response_message_id"] = str(message.id)
    resource: JSON = {"type": kind}
    if message is not None and kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
        resource["message"] = message.payload()
    return {"interaction": interaction, "resource": resource}


def _response_message_type(handle: InteractionHandle) -> int:
    """20 CHAT_INPUT_COMMAND / 23 CONTEXT_MENU_COMMAND for command responses, else 0."""
    if handle.type != APPLICATION_COMMAND:
        return 0
    return 20 if int(handle.data.get("type", 1)) == 1 else 23

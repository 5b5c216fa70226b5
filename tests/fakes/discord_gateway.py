"""The gateway half of the fake Discord: HELLO/IDENTIFY/READY/RESUME/heartbeats over aiohttp.

Frames are sent as plain JSON TEXT frames (discord.py only decompresses BINARY frames, so the
``compress=zlib-stream``/``zstd-stream`` query parameter it adds is accepted and ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from tests.fakes.discord_models import JSON

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_AUTH_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_DISALLOWED_INTENTS = 4014


class GatewayHost(Protocol):
    """What the gateway needs from :class:`~tests.fakes.discord_api.FakeDiscord`."""

    @property
    def gateway_url(self) -> str: ...

    def check_token(self, token: str | None) -> bool: ...

    def ready_payload(self, session: GatewaySession) -> JSON: ...

    def guild_create_payloads(self, session: GatewaySession) -> list[JSON]: ...

    def members_chunk(self, session: GatewaySession, request: JSON) -> JSON: ...


@dataclass
class GatewaySession:
    """One identified session.  ``log`` keeps every dispatch so RESUME can replay it."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: JSON
    seq: int = 0
    log: list[JSON] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed


@dataclass(frozen=True)
class Identify:
    """One IDENTIFY as the gateway took it (``at`` on ``time.monotonic()``)."""

    at: float
    shard_id: int
    shard_count: int


@dataclass
class ReceivedFrame:
    op: int
    d: Any
    session_id: str | None


class FakeGateway:
    """Websocket endpoint plus the session table.  Owned by ``FakeDiscord``."""

    def __init__(
        self,
        host: GatewayHost,
        *,
        heartbeat_interval_ms: int,
        shard_count: int,
        allowed_privileged_intents: int,
        privileged_intents: int,
        on_change: Callable[[], None],
    ) -> None:
        self.host = host
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.shard_count = shard_count
        self.allowed_privileged_intents = allowed_privileged_intents
        self.privileged_intents = privileged_intents
        self.ack_heartbeats = True
        self.sessions: dict[str, GatewaySession] = {}
        self.by_shard: dict[int, GatewaySession] = {}
        self.received: list[ReceivedFrame] = []
        self.identify_count = 0
        #: every IDENTIFY accepted, in order (from any number of bot processes)
        self.identifies: list[Identify] = []
        self.resume_count = 0
        self.heartbeat_count = 0
        self.connection_count = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._ready_shards: set[int] = set()
        self._ready = asyncio.Event()
        self._on_change = on_change

    # ------------------------------------------------------------------ public-ish API

    async def wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def session_for_shard(self, shard_id: int) -> GatewaySession:
        try:
            return self.by_shard[shard_id]
        except KeyError:
            raise RuntimeError(f"no bot has identified on shard {shard_id}") from None

    async def dispatch(self, shard_id: int, event: str, data: JSON) -> int:
        """Send (or, while disconnected, queue for RESUME) a dispatch; returns its sequence."""
        return await self._dispatch(self.session_for_shard(shard_id), event, data)

    async def drop(self, code: int = 4000) -> None:
        """Close every live socket from the server side (a resumable close by default)."""
        for session in self.by_shard.values():
            ws, session.ws = session.ws, None
            if ws is not None and not ws.closed:
                await ws.close(code=code, message=b"fake gateway drop")
        self._on_change()

    async def send_op(self, shard_id: int, op: int, d: Any = None) -> None:
        session = self.session_for_shard(shard_id)
        if session.ws is not None:
            await self._send(session.ws, {"op": op, "d": d})

    async def close(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"fake discord shutting down")

    # ------------------------------------------------------------------ websocket endpoint

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connection_count += 1
        try:
            await self._send(ws, {"op": OP_HELLO, "d": self._hello()})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(ws, json.loads(msg.data))
        finally:
            self._sockets.discard(ws)
            for session in self.sessions.values():
                if session.ws is ws:
                    session.ws = None
            self._on_change()
        return ws

    def _hello(self) -> JSON:
        return {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}

    async def _on_frame(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        op: int = int(frame.get("op", -1))
        d: Any = frame.get("d")
        session = next((s for s in self.sessions.values() if s.ws is ws), None)
        self.received.append(ReceivedFrame(op, d, session.session_id if session else None))
        if op == OP_HEARTBEAT:
            self.heartbeat_count += 1
            if self.ack_heartbeats:
                await self._send(ws, {"op": OP_HEARTBEAT_ACK, "d": None})
        elif op == OP_IDENTIFY:
            await self._identify(ws, d, already=session is not None)
        elif op == OP_RESUME:
            await self._resume(ws, d)
        elif op == OP_REQUEST_MEMBERS and session is not None:
            await self._dispatch(
                session, "GUILD_MEMBERS_CHUNK", self.host.members_chunk(session, d)
            )
        self._on_change()

    async def _identify(self, ws: web.WebSocketResponse, d: JSON, *, already: bool) -> None:
        if already:
            await ws.close(code=CLOSE_ALREADY_AUTHENTICATED, message=b"Already authenticated.")
            return
        if not self.host.check_token(d.get("token")):
            await ws.close(code=CLOSE_AUTH_FAILED, message=b"Authentication failed.")
            return
        intents = int(d.get("intents", 0))
        if intents & self.privileged_intents & ~self.allowed_privileged_intents:
            await ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        shard_id, shard_count = d.get("shard") or [0, 1]
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            shard_id=shard_id,
            shard_count=shard_count,
            intents=intents,
            identify=d,
            ws=ws,
        )
        self.sessions[session.session_id] = session
        self.by_shard[shard_id] = session
        self.identify_count += 1
        self.identifies.append(Identify(time.monotonic(), shard_id, shard_count))
        await self._dispatch(session, "READY", self.host.ready_payload(session))
        for guild in self.host.guild_create_payloads(session):
            await self._dispatch(session, "GUILD_CREATE", guild)
        self._ready_shards.add(shard_id)
        if len(self._ready_shards) >= self.shard_count:
            self._ready.set()

    async def _resume(self, ws: web.WebSocketResponse, d: JSON) -> None:
        session = self.sessions.get(d.get("session_id", ""))
        if session is None or not self.host.check_token(d.get("token")):
            await self._send(ws, {"op": OP_INVALID_SESSION, "d": False})
            return
        last_seen = d.get("seq") or 0
        async with session.lock:  # no live dispatch may overtake the replay
            old, session.ws = session.ws, ws
            for frame in session.log:
                if frame["s"] > last_seen:
                    await self._send(ws, frame)
        if old is not None and old is not ws and not old.closed:
            await old.close(code=4000)
        self.resume_count += 1
        await self._dispatch(session, "RESUMED", {"_trace": ["fake-gateway"]})

    async def _dispatch(self, session: GatewaySession, event: str, data: JSON) -> int:
        async with session.lock:
            session.seq += 1
            frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
            session.log.append(frame)
            if session.ws is not None:
                await self._send(session.ws, frame)
            return session.seq

    async def _send(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame, separators=(",", ":")))
        except (ConnectionError, RuntimeError) as exc:
            # The frame stays in the session log; a RESUME will replay it.
            log.debug("fake gateway: send failed (%s), frame kept for resume", exc)

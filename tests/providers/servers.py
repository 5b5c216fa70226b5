"""Small local servers for the HTTP-plumbing tests: a header recorder and a forward proxy."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Seen:
    """One request a ``Recorder`` received."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Recorder:
    """Answers every request with ``body`` and records its headers (lower-cased names)."""

    body: bytes = b"{}"
    content_type: str = "application/json"
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(Seen(request.method, request.path_qs, headers))
        return web.Response(body=self.body, content_type=self.content_type)

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization"}


@dataclass
class ForwardProxy:
    """A plain-HTTP forward proxy on 127.0.0.1: one request per connection, recorded.

    It reads an absolute-form request (``GET http://host:port/path HTTP/1.1``), sends it on
    in origin form with ``Connection: close`` and relays the answer byte for byte.
    """

    targets: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def start(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = [line for line in head.split("\r\n") if line]
            method, target, _ = request_line.split(" ", 2)
            self.targets.append(f"{method} {target}")
            length, kept = 0, []
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
                if name.strip().lower() not in _HOP_BY_HOP:
                    kept.append(line)
            body = await reader.readexactly(length) if length else b""
            url = urllib.parse.urlsplit(target)
            upstream_reader, upstream_writer = await asyncio.open_connection(
                url.hostname, url.port or 80
            )
            path = url.path + (f"?{url.query}" if url.query else "")
            header_block = "".join(f"{line}\r\n" for line in kept)
            upstream_writer.write(
                f"{method} {path} HTTP/1.1\r\n{header_block}Connection: close\r\n\r\n".encode(
                    "latin-1"
                )
                + body
            )
            await upstream_writer.drain()
            answer = await upstream_reader.read()
            upstream_writer.close()
            writer.write(answer)
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

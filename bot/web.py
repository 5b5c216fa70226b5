"""The HTTP side of the bot on its own event loop: provider callbacks, health and metrics.

``POST /callbacks/{provider}/{secret}`` only wakes the job the secret belongs to; the job
then asks the provider itself, so a forged body can never finish a job. The secret is in
the path, which is why aiohttp's access log is switched off and nothing here logs a path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from bot.db.connection import Database
from bot.jobs.callbacks import CallbackOutcome
from bot.jobs.engine import JobEngine

log = logging.getLogger(__name__)

#: callbacks are small JSON documents; anything bigger is refused before it is read
MAX_CALLBACK_BYTES = 256 * 1024

_STATUS = {
    CallbackOutcome.WOKEN: 200,
    CallbackOutcome.IGNORED: 200,
    CallbackOutcome.NOT_FOUND: 404,
    CallbackOutcome.BAD_REQUEST: 400,
}


class WebServer:
    """``aiohttp.web`` app with start/stop around an ``AppRunner``; port 0 picks a free port."""

    def __init__(
        self,
        *,
        engine: JobEngine,
        db: Database,
        discord_connected: Callable[[], bool],
        host: str,
        port: int,
        max_body: int = MAX_CALLBACK_BYTES,
    ) -> None:
        self._engine = engine
        self._db = db
        self._discord_connected = discord_connected
        self._host = host
        self._port = port
        self._max_body = max_body
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app = self.build_app()

    def build_app(self) -> web.Application:
        """The application (also usable with ``aiohttp.test_utils.TestServer``)."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post("/callbacks/{provider}/{secret}", self._callback)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> int:
        """Listen on ``host:port``; returns the bound port."""
        # access_log=None: callback paths carry secrets
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("HTTP server listening on %s:%d", self._host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _callback(self, request: web.Request) -> web.Response:
        declared = request.content_length
        if declared is not None and declared > self._max_body:
            raise web.HTTPRequestEntityTooLarge(max_size=self._max_body, actual_size=declared)
        body = await request.read()  # raises 413 past client_max_size when undeclared
        provider = request.match_info["provider"]
        outcome = await self._engine.handle_callback(provider, request.match_info["secret"], body)
        if outcome is CallbackOutcome.NOT_FOUND:
            log.info("callback for %s with an unknown secret refused", provider)
        return web.json_response({"result": outcome.value}, status=_STATUS[outcome])

    async def _healthz(self, request: web.Request) -> web.Response:
        database = await self._db.ping()
        discord = bool(self._discord_connected())
        engine = self._engine.running
        healthy = database and discord and engine
        return web.json_response(
            {
                "status": "ok" if healthy else "unavailable",
                "database": database,
                "discord": discord,
                "engine": engine,
            },
            status=200 if healthy else 503,
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._engine.refresh_metrics()
        body, content_type = self._engine.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

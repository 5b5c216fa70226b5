"""The HTTP side of the bot: provider callbacks and health on the public bind, metrics on a
private one.

``POST /callbacks/{provider}/{secret}`` only wakes the job the secret belongs to; the job
then asks the provider itself, so a forged body can never finish a job. The secret is in
the path, which is why aiohttp's access log is switched off and nothing here logs a path.
Both listeners are ``GuardedServer``s: every request has a deadline, connections are
capped, and refusals are logged sanitised and rate-limited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from bot.jobs.callbacks import CallbackOutcome
from bot.jobs.engine import JobEngine
from bot.storage.protocols import Store
from bot.web.httpguard import GuardedServer, read_body
from bot.web.limits import DEFAULT_LIMITS, HttpLimits
from bot.web.refusals import RefusalLog

log = logging.getLogger(__name__)

#: callbacks are small JSON documents; anything bigger is refused before it is read
MAX_CALLBACK_BYTES = 256 * 1024
#: metrics stay on the machine unless the operator says otherwise
DEFAULT_METRICS_HOST = "127.0.0.1"

_STATUS = {
    CallbackOutcome.WOKEN: 200,
    CallbackOutcome.IGNORED: 200,
    CallbackOutcome.NO_PROVIDER: 404,
    CallbackOutcome.NOT_FOUND: 404,
    CallbackOutcome.BAD_REQUEST: 400,
}


class ListenError(Exception):
    """A listener could not bind; ``role`` is ``"http"`` or ``"metrics"``."""

    def __init__(self, role: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({reason})")
        self.role = role


class WebServer:
    """The public app (callbacks, ``/healthz``) and the metrics app, each on its own bind.

    ``metrics_port=None`` serves no metrics (tests that do not need them); port 0 picks a
    free port for either listener.
    """

    def __init__(
        self,
        *,
        engine: JobEngine,
        db: Store,
        discord_connected: Callable[[], bool],
        host: str,
        port: int,
        metrics_host: str = DEFAULT_METRICS_HOST,
        metrics_port: int | None = None,
        max_body: int = MAX_CALLBACK_BYTES,
        limits: HttpLimits = DEFAULT_LIMITS,
        refusals: RefusalLog | None = None,
    ) -> None:
        self._engine = engine
        self._db = db
        self._discord_connected = discord_connected
        self._max_body = max_body
        self.limits = limits
        self.refusals = refusals if refusals is not None else RefusalLog(logger=log)
        self.app = self.build_app()
        self.public = GuardedServer(self.app, host, port, limits=limits, refusals=self.refusals)
        self.metrics: GuardedServer | None = None
        if metrics_port is not None:
            self.metrics = GuardedServer(
                self.build_metrics_app(),
                metrics_host,
                metrics_port,
                limits=limits,
                refusals=self.refusals,
            )
        self.port: int | None = None
        self.metrics_port: int | None = None

    def build_app(self) -> web.Application:
        """The public application: only what providers and health checks need."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post("/callbacks/{provider}/{secret}", self._callback)
        app.router.add_get("/healthz", self._healthz)
        return app

    def build_metrics_app(self) -> web.Application:
        """The private application: Prometheus metrics."""
        app = web.Application(client_max_size=1024)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> int:
        """Listen on both binds; returns the public port. ``ListenError`` names the bind."""
        try:
            self.port = await self.public.start()
        except OSError as exc:
            raise ListenError(
                "http", self.public.host, self.public.requested_port, exc.strerror or str(exc)
            ) from None
        log.info("HTTP server listening on %s:%d", self.public.host, self.port)
        if self.metrics is not None:
            try:
                self.metrics_port = await self.metrics.start()
            except OSError as exc:
                await self.public.stop()
                raise ListenError(
                    "metrics",
                    self.metrics.host,
                    self.metrics.requested_port,
                    exc.strerror or str(exc),
                ) from None
            log.info("Metrics listening on %s:%d", self.metrics.host, self.metrics_port)
        return self.port

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self.metrics is not None:
            await self.metrics.stop()
        await self.public.stop()

    async def _callback(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        try:
            body = await read_body(request, self._max_body)
        except web.HTTPRequestEntityTooLarge:
            self.refusals.refused("oversized callbacks", "refused an oversized callback body")
            raise
        except web.HTTPRequestTimeout:
            self.refusals.refused("slow callbacks", "refused a callback whose body came too slowly")
            raise
        outcome = await self._engine.handle_callback(provider, request.match_info["secret"], body)
        if outcome is CallbackOutcome.NO_PROVIDER:
            self.refusals.refused(
                "callbacks for unknown providers",
                "refused a callback for unknown provider '%s'",
                provider,
            )
        elif outcome is CallbackOutcome.NOT_FOUND:
            self.refusals.refused(
                "callbacks with unknown secrets",
                "refused a callback for %s with an unknown secret",
                provider,
            )
        result = CallbackOutcome.NOT_FOUND if _STATUS[outcome] == 404 else outcome
        return web.json_response({"result": result.value}, status=_STATUS[outcome])

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

"""The domain services one bot process shares, opened and closed together."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.config import Settings
from bot.core.errors import ConfigError
from bot.jobs.delivery import Deliverer
from bot.jobs.engine import EngineOptions, JobEngine
from bot.jobs.events import EventSink
from bot.moderation import ModerationService
from bot.providers.base import Provider, ProviderConfig
from bot.providers.configure import build_provider
from bot.providers.transport import make_http_client
from bot.storage.sqlite.connection import SchemaTooNewError
from bot.storage.sqlite.store import SqliteStore
from bot.web import ListenError, WebServer

log = logging.getLogger(__name__)

#: the setting to change when a listener cannot bind
_PORT_SETTING = {"http": "HTTP_PORT", "metrics": "METRICS_PORT"}


@dataclass
class Services:
    """HTTP client, providers, store, job engine and web server of one process."""

    settings: Settings
    http: httpx.AsyncClient
    providers: list[Provider]
    store: SqliteStore
    engine: JobEngine | None = None
    web: WebServer | None = None
    #: timings for the engine (tests and benchmarks shrink them)
    engine_options: EngineOptions | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    async def open(cls, settings: Settings, configs: list[ProviderConfig]) -> Services:
        """Open the HTTP client and the database (migrated) before Discord connects."""
        http = make_http_client()
        try:
            store = await _open_store(settings.database_path)
        except BaseException:
            await http.aclose()
            raise
        providers = [build_provider(config, http) for config in configs]
        return cls(settings=settings, http=http, providers=providers, store=store)

    async def start(
        self,
        *,
        deliverer: Deliverer,
        events: EventSink,
        discord_connected: Callable[[], bool],
    ) -> JobEngine:
        """Start the engine (resuming unfinished jobs) and the web server."""
        engine = JobEngine(
            store=self.store,
            providers=self.providers,
            http=self.http,
            settings=self.settings,
            deliverer=deliverer,
            events=events,
            options=self.engine_options,
        )
        await engine.start()
        self.engine = engine
        self.web = WebServer(
            engine=engine,
            db=self.store,
            discord_connected=discord_connected,
            host=self.settings.http_host,
            port=self.settings.http_port,
            metrics_host=self.settings.metrics_host,
            metrics_port=self.settings.metrics_port,
        )
        try:
            await self.web.start()
        except ListenError as exc:
            raise ConfigError(_PORT_SETTING[exc.role], str(exc)) from None
        return engine

    @property
    def moderation(self) -> ModerationService:
        """Quota and moderation administration over the same database."""
        return ModerationService(
            self.store.moderation,
            max_daily_quota=self.settings.max_daily_quota,
            max_grant=self.settings.max_grant,
        )

    async def get_setting(self, key: str) -> str | None:
        """A small persistent value (the command-tree hash)."""
        return await self.store.state.get(key)

    async def set_setting(self, key: str, value: str) -> None:
        """Store a small persistent value."""
        await self.store.state.set(key, value)

    async def stop_taking_jobs(self) -> None:
        """Refuse new jobs and stop the workers; jobs in flight stay in the ledger."""
        if self.engine is not None:
            await self.engine.stop()

    async def close(self) -> None:
        """Close in reverse order of opening."""
        if self._closed:
            return
        self._closed = True
        if self.web is not None:
            await self.web.stop()
        if self.engine is not None:
            await self.engine.stop()
        await self.http.aclose()
        await self.store.close()


async def _open_store(path: Path) -> SqliteStore:
    """Open and migrate the database; a problem the operator can fix names DATABASE_PATH."""
    try:
        return await SqliteStore.open(path)
    except SchemaTooNewError:
        raise ConfigError(
            "DATABASE_PATH", f"{path} was written by a newer seedream-bot; upgrade the bot"
        ) from None
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError("DATABASE_PATH", f"cannot open {path} ({exc})") from None

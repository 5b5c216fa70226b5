"""The domain services one bot process shares, opened and closed together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

from bot.config import Settings
from bot.providers.base import Provider, ProviderConfig
from bot.providers.configure import build_provider
from bot.providers.http import make_http_client

log = logging.getLogger(__name__)


@dataclass
class Services:
    """HTTP client, providers (and, as they land, database, job engine and web server)."""

    settings: Settings
    http: httpx.AsyncClient
    providers: list[Provider]
    _settings_store: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings, configs: list[ProviderConfig]) -> Services:
        """Open everything the bot needs before it connects to Discord."""
        http = make_http_client()
        providers = [build_provider(config, http) for config in configs]
        return cls(settings=settings, http=http, providers=providers)

    async def get_setting(self, key: str) -> str | None:
        """A small persistent value (the command-tree hash)."""
        return self._settings_store.get(key)

    async def set_setting(self, key: str, value: str) -> None:
        """Store a small persistent value."""
        self._settings_store[key] = value

    async def stop_taking_jobs(self) -> None:
        """Refuse new jobs; jobs in flight stay in the ledger."""

    async def close(self) -> None:
        """Close in reverse order of opening."""
        await self.http.aclose()

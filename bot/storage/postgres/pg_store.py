"""``PgStore``: the shared store, one PostgreSQL database that many processes open at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.storage.postgres.pg_jobs import PgJobStore
from bot.storage.postgres.pg_moderation import PgModerationStore
from bot.storage.postgres.pg_pool import Pool, describe_url, migrate, open_pool
from bot.storage.postgres.pg_preferences import PgPreferencesRepo
from bot.storage.postgres.pg_quotas import PgQuotaStore
from bot.storage.postgres.pg_state import PgStateRepo
from bot.storage.postgres.pg_timings import PgTimingStore

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PgStore:
    """Every repository over one connection pool; implements ``bot.storage.protocols.Store``."""

    def __init__(self, pool: Pool, where: str, clock: Callable[[], datetime] = _utc_now) -> None:
        #: the pool itself, for the image store, PostgreSQL-only tools and tests
        self.pool = pool
        #: ``host:port/db``: what may be shown of the URL
        self.where = where
        self._jobs = PgJobStore(pool, clock)
        self._quotas = PgQuotaStore(pool)
        self._moderation = PgModerationStore(pool, clock)
        self._state = PgStateRepo(pool)
        self._preferences = PgPreferencesRepo(pool)
        self._timings = PgTimingStore(pool, clock)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        min_size: int = 1,
        max_size: int = 10,
    ) -> PgStore:
        """Migrate the database (once across processes) and open a pool on it.

        Raises ``SchemaTooNewError`` for a database of a newer bot, ``psycopg.Error`` when it
        cannot be reached, ``psycopg_pool.PoolTimeout`` when the pool cannot fill.
        """
        await migrate(url)
        pool = await open_pool(url, min_size=min_size, max_size=max_size)
        return cls(pool, describe_url(url), clock)

    @property
    def jobs(self) -> PgJobStore:
        """Jobs and their quota moves."""
        return self._jobs

    @property
    def quotas(self) -> PgQuotaStore:
        """Quota reads."""
        return self._quotas

    @property
    def moderation(self) -> PgModerationStore:
        """Moderator settings and the audit log."""
        return self._moderation

    @property
    def state(self) -> PgStateRepo:
        """Process state."""
        return self._state

    @property
    def preferences(self) -> PgPreferencesRepo:
        """Members' defaults and server styles."""
        return self._preferences

    @property
    def timings(self) -> PgTimingStore:
        """Provider task durations."""
        return self._timings

    async def ping(self) -> bool:
        """True when a trivial query answers within 2 s."""
        try:
            async with asyncio.timeout(2.0), self.pool.connection() as conn:
                cursor = await conn.execute("SELECT 1")
                return await cursor.fetchone() == (1,)
        except Exception:
            log.exception("database ping failed (%s)", self.where)
            return False

    async def close(self) -> None:
        """Close the pool (waits for connections in use to come back)."""
        await self.pool.close()

"""``SqliteStore``: the embedded store, one SQLite file opened and migrated by one process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.jobs_store import SqliteJobStore
from bot.storage.sqlite.moderation_store import SqliteModerationStore
from bot.storage.sqlite.preferences_repo import PreferencesRepo
from bot.storage.sqlite.quota_store import SqliteQuotaStore
from bot.storage.sqlite.state_repo import StateRepo
from bot.storage.sqlite.timings_repo import SqliteTimingStore


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqliteStore:
    """Every repository over one ``Database``; implements ``bot.storage.protocols.Store``."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = _utc_now) -> None:
        #: the connection itself, for SQLite-only tools and tests
        self.db = db
        self._jobs = SqliteJobStore(db, clock)
        self._quotas = SqliteQuotaStore(db)
        self._moderation = SqliteModerationStore(db, clock)
        self._state = StateRepo(db)
        self._preferences = PreferencesRepo(db)
        self._timings = SqliteTimingStore(db, clock)

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> SqliteStore:
        """Open (creating if needed) and migrate the file at ``path``.

        Raises ``SchemaTooNewError`` for a file of a newer bot, ``OSError`` or
        ``sqlite3.Error`` when it cannot be opened.
        """
        return cls(await Database.open(path), clock)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self.db.path

    @property
    def jobs(self) -> SqliteJobStore:
        """Jobs and their quota moves."""
        return self._jobs

    @property
    def quotas(self) -> SqliteQuotaStore:
        """Quota reads."""
        return self._quotas

    @property
    def moderation(self) -> SqliteModerationStore:
        """Moderator settings and the audit log."""
        return self._moderation

    @property
    def state(self) -> StateRepo:
        """Process state."""
        return self._state

    @property
    def preferences(self) -> PreferencesRepo:
        """Members' defaults and server styles."""
        return self._preferences

    @property
    def timings(self) -> SqliteTimingStore:
        """Provider task durations."""
        return self._timings

    async def ping(self) -> bool:
        """True when a trivial query answers."""
        return await self.db.ping()

    async def close(self) -> None:
        """Close the file."""
        await self.db.close()

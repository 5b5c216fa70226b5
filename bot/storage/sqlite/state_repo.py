"""SQL for ``bot_state``: small values the process keeps between starts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from bot.storage.sqlite.connection import Database


class StateRepo:
    """Read and write one key at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        return await self._db.run_read(_get, key)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        await self._db.run(_set, key, value, datetime.now(UTC))


def _get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM bot_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set(conn: sqlite3.Connection, key: str, value: str, now: datetime) -> None:
    conn.execute(
        "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at",
        (key, value, now.isoformat()),
    )

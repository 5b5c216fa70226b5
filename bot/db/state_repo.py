"""SQL for ``bot_state``: small values the process keeps between starts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.connection import Database
from bot.db.query import fetch_one


class StateRepo:
    """Read and write one key at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        async with self._db.read() as conn:
            row = await fetch_one(conn, "SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, datetime.now(UTC).isoformat()),
            )

"""SQL for ``bot_state``: small values the processes keep between starts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.storage.postgres.pg_pool import Conn, Pool, read, transact


class PgStateRepo:
    """Read and write one key at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""

        async def get(conn: Conn) -> str | None:
            cursor = await conn.execute("SELECT value FROM bot_state WHERE key = %s", (key,))
            row = await cursor.fetchone()
            return None if row is None else str(row[0])

        return await read(self._pool, get)

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""

        async def set_value(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, datetime.now(UTC)),
            )

        await transact(self._pool, set_value)

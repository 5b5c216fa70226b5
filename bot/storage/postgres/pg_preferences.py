"""``PreferenceStore`` on PostgreSQL: members' ``/settings`` defaults and servers' styles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.asked import MemberDefaults
from bot.storage.postgres.pg_pool import Conn, Pool, read, transact

_COLUMNS = ("model", "ratio", "resolution", "count", "style", "private", "spoiler")


class PgPreferencesRepo:
    """One transaction (or read) per call, on a pooled connection."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def member_defaults(self, guild_id: int, user_id: int) -> MemberDefaults:
        """The member's defaults in the guild (all unset when none were saved)."""

        async def get(conn: Conn) -> MemberDefaults:
            cursor = await conn.execute(
                "SELECT model, ratio, resolution, count, style, private, spoiler "
                "FROM member_defaults WHERE guild_id = %s AND user_id = %s",
                (guild_id, user_id),
            )
            row = await cursor.fetchone()
            if row is None:
                return MemberDefaults()
            values: dict[str, Any] = dict(zip(_COLUMNS, row, strict=True))
            return MemberDefaults(**values)

        return await read(self._pool, get)

    async def set_member_defaults(
        self, guild_id: int, user_id: int, defaults: MemberDefaults
    ) -> None:
        """Replace the member's defaults in the guild (no row when nothing is set)."""
        if defaults.empty:
            await self.clear_member_defaults(guild_id, user_id)
            return
        values = [getattr(defaults, name) for name in _COLUMNS]

        async def put(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO member_defaults (guild_id, user_id, model, ratio, resolution, "
                "count, style, private, spoiler, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (guild_id, user_id) DO UPDATE SET model = excluded.model, "
                "ratio = excluded.ratio, resolution = excluded.resolution, "
                "count = excluded.count, style = excluded.style, private = excluded.private, "
                "spoiler = excluded.spoiler, updated_at = excluded.updated_at",
                (guild_id, user_id, *values, datetime.now(UTC)),
            )

        await transact(self._pool, put)

    async def clear_member_defaults(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's defaults; True when there were any."""

        async def clear(conn: Conn) -> bool:
            cursor = await conn.execute(
                "DELETE FROM member_defaults WHERE guild_id = %s AND user_id = %s",
                (guild_id, user_id),
            )
            return cursor.rowcount > 0

        return await transact(self._pool, clear)

    async def guild_styles(self, guild_id: int) -> dict[str, str]:
        """The guild's styles, name to template, sorted by name (byte order, as SQLite)."""

        async def styles(conn: Conn) -> dict[str, str]:
            cursor = await conn.execute(
                "SELECT name, template FROM guild_styles WHERE guild_id = %s "
                'ORDER BY name COLLATE "C"',
                (guild_id,),
            )
            return {str(name): str(template) for name, template in await cursor.fetchall()}

        return await read(self._pool, styles)

    async def put_guild_style(self, guild_id: int, name: str, template: str, by: int) -> bool:
        """Add or replace a style; True when it replaced one."""

        async def put(conn: Conn) -> bool:
            # xmax = 0 on the returned row: it was inserted, not updated
            cursor = await conn.execute(
                "INSERT INTO guild_styles (guild_id, name, template, added_by, updated_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (guild_id, name) DO UPDATE SET "
                "template = excluded.template, added_by = excluded.added_by, "
                "updated_at = excluded.updated_at RETURNING (xmax <> 0)",
                (guild_id, name, template, by, datetime.now(UTC)),
            )
            row = await cursor.fetchone()
            return bool(row and row[0])

        return await transact(self._pool, put)

    async def remove_guild_style(self, guild_id: int, name: str) -> bool:
        """Remove a style; True when it existed."""

        async def remove(conn: Conn) -> bool:
            cursor = await conn.execute(
                "DELETE FROM guild_styles WHERE guild_id = %s AND name = %s", (guild_id, name)
            )
            return cursor.rowcount > 0

        return await transact(self._pool, remove)

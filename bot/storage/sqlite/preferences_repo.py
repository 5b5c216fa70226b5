"""SQL for members' ``/settings`` defaults and servers' styles (``PreferenceStore``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from bot.core.asked import MemberDefaults
from bot.storage.sqlite.codec import to_db_time
from bot.storage.sqlite.connection import Database

_COLUMNS = ("model", "ratio", "resolution", "count", "style", "private", "spoiler")
_BOOLS = frozenset({"private", "spoiler"})


class PreferencesRepo:
    """One transaction per call, on the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def member_defaults(self, guild_id: int, user_id: int) -> MemberDefaults:
        """The member's defaults in the guild (all unset when none were saved)."""
        return await self._db.run_read(_member_defaults, guild_id, user_id)

    async def set_member_defaults(
        self, guild_id: int, user_id: int, defaults: MemberDefaults
    ) -> None:
        """Replace the member's defaults in the guild (no row when nothing is set)."""
        await self._db.run(_set_member_defaults, guild_id, user_id, defaults, datetime.now(UTC))

    async def clear_member_defaults(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's defaults; True when there were any."""
        return await self._db.run(_clear_member_defaults, guild_id, user_id)

    async def guild_styles(self, guild_id: int) -> dict[str, str]:
        """The guild's styles, name to template, sorted by name."""
        return await self._db.run_read(_guild_styles, guild_id)

    async def put_guild_style(self, guild_id: int, name: str, template: str, by: int) -> bool:
        """Add or replace a style; True when it replaced one."""
        return await self._db.run(_put_style, guild_id, name, template, by, datetime.now(UTC))

    async def remove_guild_style(self, guild_id: int, name: str) -> bool:
        """Remove a style; True when it existed."""
        return await self._db.run(_remove_style, guild_id, name)


def _member_defaults(conn: sqlite3.Connection, guild_id: int, user_id: int) -> MemberDefaults:
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM member_defaults WHERE guild_id = ? AND user_id = ?",  # noqa: S608 - fixed column names
        (guild_id, user_id),
    ).fetchone()
    if row is None:
        return MemberDefaults()
    values: dict[str, Any] = {
        name: (bool(value) if name in _BOOLS and value is not None else value)
        for name, value in zip(_COLUMNS, row, strict=True)
    }
    return MemberDefaults(**values)


def _set_member_defaults(
    conn: sqlite3.Connection, guild_id: int, user_id: int, defaults: MemberDefaults, now: datetime
) -> None:
    if defaults.empty:
        _clear_member_defaults(conn, guild_id, user_id)
        return
    values = [getattr(defaults, name) for name in _COLUMNS]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    placeholders = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS)
    conn.execute(
        f"INSERT INTO member_defaults (guild_id, user_id, {', '.join(_COLUMNS)}, updated_at) "  # noqa: S608 - fixed column names
        f"VALUES (?, ?, {placeholders}, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
        f"{updates}, updated_at = excluded.updated_at",
        (guild_id, user_id, *values, to_db_time(now)),
    )


def _clear_member_defaults(conn: sqlite3.Connection, guild_id: int, user_id: int) -> bool:
    cursor = conn.execute(
        "DELETE FROM member_defaults WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
    )
    return cursor.rowcount > 0


def _guild_styles(conn: sqlite3.Connection, guild_id: int) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, template FROM guild_styles WHERE guild_id = ? ORDER BY name", (guild_id,)
    ).fetchall()
    return {str(name): str(template) for name, template in rows}


def _put_style(
    conn: sqlite3.Connection, guild_id: int, name: str, template: str, by: int, now: datetime
) -> bool:
    existed = conn.execute(
        "SELECT 1 FROM guild_styles WHERE guild_id = ? AND name = ?", (guild_id, name)
    ).fetchone()
    conn.execute(
        "INSERT INTO guild_styles (guild_id, name, template, added_by, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO UPDATE SET "
        "template = excluded.template, added_by = excluded.added_by, "
        "updated_at = excluded.updated_at",
        (guild_id, name, template, by, to_db_time(now)),
    )
    return existed is not None


def _remove_style(conn: sqlite3.Connection, guild_id: int, name: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM guild_styles WHERE guild_id = ? AND name = ?", (guild_id, name)
    )
    return cursor.rowcount > 0

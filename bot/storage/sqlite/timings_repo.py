"""SQL for ``task_timings``: the rolling history of provider task durations."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from bot.core.request import TaskKind
from bot.storage.sqlite.connection import Database

_KIND = "provider = ? AND model = ? AND resolution = ? AND image_count = ?"


class SqliteTimingStore:
    """Implements ``bot.storage.protocols.TimingStore``."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def task_times(self, kind: TaskKind, limit: int) -> list[float]:
        """The latest ``limit`` durations of tasks of ``kind``, oldest first."""
        return await self._db.run_read(_times, kind, limit)

    async def record_task_time(self, kind: TaskKind, seconds: float, *, keep: int) -> None:
        """Add one duration and drop that kind's older ones beyond ``keep``."""
        await self._db.run(_record, kind, max(seconds, 0.0), keep, self._clock())


def _key(kind: TaskKind) -> tuple[str, str, str, int]:
    return (kind.provider, kind.model, kind.resolution, kind.count)


def _times(conn: sqlite3.Connection, kind: TaskKind, limit: int) -> list[float]:
    rows = conn.execute(
        f"SELECT seconds FROM task_timings WHERE {_KIND} ORDER BY id DESC LIMIT ?",  # noqa: S608
        (*_key(kind), limit),
    ).fetchall()
    return [float(row[0]) for row in reversed(rows)]


def _record(
    conn: sqlite3.Connection, kind: TaskKind, seconds: float, keep: int, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO task_timings (provider, model, resolution, image_count, seconds, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (*_key(kind), seconds, now.isoformat()),
    )
    conn.execute(
        f"DELETE FROM task_timings WHERE {_KIND} AND id NOT IN "  # noqa: S608
        f"(SELECT id FROM task_timings WHERE {_KIND} ORDER BY id DESC LIMIT ?)",
        (*_key(kind), *_key(kind), max(keep, 1)),
    )

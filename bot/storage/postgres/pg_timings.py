"""SQL for ``task_timings`` on PostgreSQL: the rolling history of provider task durations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.core.request import TaskKind
from bot.storage.postgres.pg_pool import Conn, Pool, read, transact

_KIND = "provider = %s AND model = %s AND resolution = %s AND image_count = %s"


def _key(kind: TaskKind) -> tuple[str, str, str, int]:
    return (kind.provider, kind.model, kind.resolution, kind.count)


class PgTimingStore:
    """Implements ``bot.storage.protocols.TimingStore``."""

    def __init__(self, pool: Pool, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    async def task_times(self, kind: TaskKind, limit: int) -> list[float]:
        """The latest ``limit`` durations of tasks of ``kind``, oldest first."""

        async def times(conn: Conn) -> list[float]:
            cursor = await conn.execute(
                f"SELECT seconds FROM task_timings WHERE {_KIND} "  # noqa: S608
                "ORDER BY id DESC LIMIT %s",
                (*_key(kind), limit),
            )
            rows = await cursor.fetchall()
            return [float(row[0]) for row in reversed(rows)]

        return await read(self._pool, times)

    async def record_task_time(self, kind: TaskKind, seconds: float, *, keep: int) -> None:
        """Add one duration and drop that kind's older ones beyond ``keep``."""
        now = self._clock()

        async def record(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO task_timings "
                "(provider, model, resolution, image_count, seconds, recorded_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (*_key(kind), max(seconds, 0.0), now),
            )
            await conn.execute(
                f"DELETE FROM task_timings WHERE {_KIND} AND id < ("  # noqa: S608
                f"SELECT min(id) FROM (SELECT id FROM task_timings WHERE {_KIND} "
                "ORDER BY id DESC LIMIT %s) AS kept)",
                (*_key(kind), *_key(kind), max(keep, 1)),
            )

        await transact(self._pool, record)

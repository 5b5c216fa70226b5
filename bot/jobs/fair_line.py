"""The fair waiting line in PostgreSQL: ``bot.jobs.scheduler.Scheduler``'s rules across processes.

Same rules as the in-memory scheduler (its reference model; a property test compares them
step by step): members take turns; each member's jobs start in arrival order; a member at
``max_per_user`` jobs in flight, or whose next job's provider is full, is skipped without
losing their turn. Which job starts next is decided by one SQL statement, and every change
to the line runs under one transaction-level advisory lock, so processes never interleave.
Every method runs on the caller's connection inside the caller's transaction (so a job is
queued in the transaction that creates it, and admitted jobs are deferred in the one that
admits them). Tables: ``bot/storage/postgres/migrations/0002_cluster.sql``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from bot.jobs.scheduler import Dispatch

#: pg_advisory_xact_lock key of the fair line ("seedfair" in ASCII)
LOCK_KEY = 0x7365656466616972

Conn = AsyncConnection[Any]

_ADMIT = """
WITH per_member AS (
    SELECT user_id, count(*) AS n FROM cluster_flights GROUP BY user_id
), per_provider AS (
    SELECT provider, count(*) AS n FROM cluster_flights
     WHERE provider IS NOT NULL GROUP BY provider
), limits AS (
    SELECT * FROM unnest(%(providers)s::text[], %(limits)s::int[]) AS l(provider, lim)
), heads AS (
    SELECT DISTINCT ON (user_id) job_id, user_id, provider
      FROM cluster_waiting ORDER BY user_id, arrival
), pick AS MATERIALIZED (
    SELECT h.job_id, h.user_id, h.provider
      FROM heads h
      JOIN cluster_turns t ON t.user_id = h.user_id
      LEFT JOIN per_member m ON m.user_id = h.user_id
      LEFT JOIN per_provider p ON p.provider = h.provider
      LEFT JOIN limits l ON l.provider = h.provider
     WHERE coalesce(m.n, 0) < %(max_per_user)s
       AND coalesce(p.n, 0) < coalesce(l.lim, %(default_limit)s)
     ORDER BY t.turn
     LIMIT 1
), gone AS (
    DELETE FROM cluster_waiting w USING pick WHERE w.job_id = pick.job_id RETURNING w.job_id
), flown AS (
    INSERT INTO cluster_flights (job_id, user_id, provider)
    SELECT job_id, user_id, provider FROM pick RETURNING job_id
), rest AS (
    SELECT EXISTS (
        SELECT 1 FROM cluster_waiting w, pick
         WHERE w.user_id = pick.user_id AND w.job_id <> pick.job_id
    ) AS more
), moved AS (
    -- served: to the back of the line, or out of it when nothing else waits
    UPDATE cluster_turns t SET turn = nextval('cluster_turn_seq')
      FROM pick, rest WHERE t.user_id = pick.user_id AND rest.more RETURNING t.user_id
), dropped AS (
    DELETE FROM cluster_turns t USING pick, rest
     WHERE t.user_id = pick.user_id AND NOT rest.more RETURNING t.user_id
)
SELECT job_id, user_id, provider FROM pick
"""

_POSITIONS = """
SELECT w.job_id, row_number() OVER (ORDER BY w.round, t.turn) AS position
  FROM (SELECT job_id, user_id,
               row_number() OVER (PARTITION BY user_id ORDER BY arrival) AS round
          FROM cluster_waiting) w
  JOIN cluster_turns t ON t.user_id = w.user_id
"""

_SWITCH = """
UPDATE cluster_flights f SET provider = %(provider)s
 WHERE f.job_id = %(job_id)s
   AND (f.provider IS NOT DISTINCT FROM %(provider)s
        OR (SELECT count(*) FROM cluster_flights o WHERE o.provider = %(provider)s) < %(limit)s)
RETURNING f.job_id
"""


@dataclass(frozen=True)
class LineLimits:
    """The limits admission applies, read afresh every time it runs.

    ``provider_limits`` maps a provider to its concurrency limit (it may change at run
    time); a provider it does not name gets ``default_provider_limit``.
    """

    max_per_user: int
    provider_limits: Callable[[], Mapping[str, int]]
    default_provider_limit: int

    def limit_of(self, provider: str) -> int:
        """The current limit of one provider."""
        return self.provider_limits().get(provider, self.default_provider_limit)


class FairLine:
    """The shared waiting line and flight counts; each call takes the advisory lock."""

    def __init__(self, limits: LineLimits) -> None:
        self.limits = limits

    @staticmethod
    async def lock(conn: Conn) -> None:
        """Hold the line's lock until the caller's transaction ends."""
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))

    async def enqueue(self, conn: Conn, job_id: str, user_id: int, provider: str) -> None:
        """Add a waiting job; a member not yet in the rotation joins at its back."""
        await self.lock(conn)
        await conn.execute(
            "INSERT INTO cluster_waiting (job_id, user_id, provider) VALUES (%s, %s, %s)",
            (job_id, user_id, provider),
        )
        await conn.execute(
            "INSERT INTO cluster_turns (user_id, turn) VALUES (%s, nextval('cluster_turn_seq'))"
            " ON CONFLICT (user_id) DO NOTHING",
            (user_id,),
        )

    async def admit_next(self, conn: Conn) -> Dispatch | None:
        """The one statement: pop the next job that may start and take its slots, or None."""
        await self.lock(conn)
        limits = dict(self.limits.provider_limits())
        cursor = await conn.execute(
            _ADMIT,
            {
                "providers": list(limits),
                "limits": list(limits.values()),
                "max_per_user": self.limits.max_per_user,
                "default_limit": self.limits.default_provider_limit,
            },
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        return Dispatch(str(row[0]), int(row[1]), str(row[2]))

    async def admit_all(self, conn: Conn) -> list[Dispatch]:
        """Every job that may start now, in the order the line admits them."""
        admitted: list[Dispatch] = []
        while (dispatch := await self.admit_next(conn)) is not None:
            admitted.append(dispatch)
        return admitted

    async def remove(self, conn: Conn, job_id: str) -> bool:
        """Take a waiting job out of the line (cancel); False when it isn't waiting."""
        await self.lock(conn)
        cursor = await conn.execute(
            "DELETE FROM cluster_waiting WHERE job_id = %s RETURNING user_id", (job_id,)
        )
        row = await cursor.fetchone()
        if row is None:
            return False
        await conn.execute(
            "DELETE FROM cluster_turns t WHERE t.user_id = %s"
            " AND NOT EXISTS (SELECT 1 FROM cluster_waiting w WHERE w.user_id = t.user_id)",
            (row[0],),
        )
        return True

    async def occupy(self, conn: Conn, job_id: str, user_id: int, provider: str | None) -> None:
        """Count a job in flight that the line never admitted (even past the limits)."""
        await self.lock(conn)
        await conn.execute(
            "INSERT INTO cluster_flights (job_id, user_id, provider) VALUES (%s, %s, %s)"
            " ON CONFLICT (job_id) DO NOTHING",
            (job_id, user_id, provider),
        )

    async def try_switch_provider(self, conn: Conn, job_id: str, provider: str) -> bool:
        """Move an in-flight job's provider slot (failover); False when ``provider`` is full."""
        await self.lock(conn)
        cursor = await conn.execute(
            _SWITCH,
            {"job_id": job_id, "provider": provider, "limit": self.limits.limit_of(provider)},
        )
        return await cursor.fetchone() is not None

    async def release_provider(self, conn: Conn, job_id: str) -> None:
        """The job no longer needs its provider (it is delivering)."""
        await self.lock(conn)
        await conn.execute(
            "UPDATE cluster_flights SET provider = NULL WHERE job_id = %s", (job_id,)
        )

    async def release(self, conn: Conn, job_id: str) -> bool:
        """The job left flight (it ended); frees both slots. False when it held none."""
        await self.lock(conn)
        cursor = await conn.execute(
            "DELETE FROM cluster_flights WHERE job_id = %s RETURNING job_id", (job_id,)
        )
        return await cursor.fetchone() is not None

    @staticmethod
    async def positions(conn: Conn) -> dict[str, int]:
        """Every waiting job's place in line (1 = next), one job per member per round in
        turn order, like ``Scheduler.positions`` (a consistent read; no lock needed)."""
        cursor = await conn.execute(_POSITIONS)
        return {str(job_id): int(position) for job_id, position in await cursor.fetchall()}

    @staticmethod
    async def in_flight(conn: Conn) -> tuple[dict[int, int], dict[str, int]]:
        """Jobs in flight per member and per provider (for checks and the resilience test)."""
        members = await conn.execute(
            "SELECT user_id, count(*) FROM cluster_flights GROUP BY user_id"
        )
        per_member = {int(u): int(n) for u, n in await members.fetchall()}
        providers = await conn.execute(
            "SELECT provider, count(*) FROM cluster_flights"
            " WHERE provider IS NOT NULL GROUP BY provider"
        )
        per_provider = {str(p): int(n) for p, n in await providers.fetchall()}
        return per_member, per_provider

"""Asking whether a job would be admitted, before any costly work, without reserving."""

from __future__ import annotations

import sqlite3

from bot.core.job import JobSpec
from bot.db.connection import Database
from bot.quota import QuotaService


class Admission:
    """A dry run of the quota reservation a job's creation makes.

    The doors call :meth:`precheck` before they download or decode anything, so a member
    who would be refused (blocked, a blocked term, a budget or quota spent, a server not
    allowed) costs the bot nothing. It runs the reservation's own rules, ``QuotaService.
    reserve``, inside a savepoint that is always rolled back: the same checks in the same
    order with the same messages, and nothing written. Creating the job reserves again
    atomically, so a precheck that passed can still be refused there.
    """

    def __init__(self, db: Database, quota: QuotaService) -> None:
        self._db = db
        self._quota = quota

    async def precheck(self, spec: JobSpec) -> None:
        """Raise what creating ``spec`` would raise from the quota rules; change nothing."""
        await self._db.run_read(self._dry_run, spec)

    def _dry_run(self, conn: sqlite3.Connection, spec: JobSpec) -> None:
        conn.execute("SAVEPOINT admission_precheck")
        try:
            self._quota.reserve(
                conn,
                guild_id=spec.guild_id,
                user_id=spec.user_id,
                role_ids=tuple(spec.role_ids),
                count=spec.request.count,
                prompt=spec.request.prompt,
            )
        finally:
            conn.execute("ROLLBACK TO admission_precheck")
            conn.execute("RELEASE admission_precheck")

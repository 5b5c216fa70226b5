"""Quota counters on SQLite: the snapshot the rules read, and applying their answer.

The synchronous helpers run inside a ``Database.run`` transaction (``BEGIN IMMEDIATE``: the
whole file is locked for writing, so the snapshot cannot go stale before it is applied);
the counters are guarded again in SQL, so the limits hold even if the rules had a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from bot.core.accounts import Limit, QuotaSnapshot, Reservation, Settlement
from bot.jobs.models import Job, JobSpec
from bot.storage.protocols import QuotaRules
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.settings_repo import SettingsRepo
from bot.storage.sqlite.usage_repo import UsageRepo


class SqliteQuotaStore:
    """``QuotaStore`` on one ``Database``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshot(self, guild_id: int, user_id: int, day: date) -> QuotaSnapshot:
        """What the rules need about the member on ``day``, in one read."""
        return await self._db.run_read(read_snapshot, guild_id, user_id, day)

    async def precheck(self, spec: JobSpec, rules: QuotaRules) -> None:
        """The rules over a fresh snapshot; nothing is written (they are pure)."""
        snapshot = await self.snapshot(spec.guild_id, spec.user_id, rules.today())
        rules.admit(snapshot, tuple(spec.role_ids), spec.request.count, spec.request.prompt)


def read_snapshot(
    conn: sqlite3.Connection, guild_id: int, user_id: int, day: date
) -> QuotaSnapshot:
    """The member's settings, the guild's, its role allowances and blocklist, and the day's
    counters."""
    settings = SettingsRepo(conn)
    usage = UsageRepo(conn)
    return QuotaSnapshot(
        day=day,
        guild=settings.guild(guild_id),
        member=settings.member(guild_id, user_id),
        role_allowances=settings.role_allowances(guild_id),
        blocked_terms=tuple(settings.blocked_terms(guild_id)),
        daily_used=usage.daily_used(guild_id, user_id, day),
        guild_used=usage.guild_used(guild_id, day),
        global_used=usage.global_used(day),
    )


def reserve(
    conn: sqlite3.Connection,
    rules: QuotaRules,
    *,
    guild_id: int,
    user_id: int,
    role_ids: Sequence[int],
    count: int,
    prompt: str,
    now: datetime,
) -> Reservation:
    """Ask the rules and hold the images, inside the caller's write transaction."""
    snapshot = read_snapshot(conn, guild_id, user_id, rules.today())
    held = rules.admit(snapshot, role_ids, count, prompt)
    usage = UsageRepo(conn)

    def refuse(limit: Limit) -> Exception:
        return rules.refusal(limit, snapshot, role_ids, count)

    if not usage.add_guild(guild_id, held.day, held.total, limit=held.guild_limit):
        raise refuse(Limit.GUILD)
    # Counted even without a cap, so a cap set mid-day sees the whole day.
    if not usage.add_global(held.day, held.total, limit=held.global_limit):
        raise refuse(Limit.GLOBAL)
    if held.daily and not usage.add_daily(
        guild_id, user_id, held.day, held.daily, limit=held.daily_limit
    ):
        raise refuse(Limit.DAILY)
    if held.bonus and not SettingsRepo(conn).take_bonus(guild_id, user_id, held.bonus, now):
        raise refuse(Limit.DAILY)
    return held


def settle(
    conn: sqlite3.Connection, rules: QuotaRules, job: Job, charged: int, now: datetime
) -> Settlement:
    """Charge ``charged`` images of the job's reservation and give back the rest."""
    settlement = rules.settle(job.reserved_daily, job.reserved_bonus, charged)
    usage = UsageRepo(conn)
    if settlement.refunded:
        usage.add_guild(job.guild_id, job.quota_day, -settlement.refunded)
        usage.add_global(job.quota_day, -settlement.refunded)
    if settlement.refunded_daily:
        usage.add_daily(job.guild_id, job.user_id, job.quota_day, -settlement.refunded_daily)
    if settlement.refunded_bonus:
        SettingsRepo(conn).add_bonus(job.guild_id, job.user_id, settlement.refunded_bonus, now)
    return settlement

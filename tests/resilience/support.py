"""Shared pieces of the resilience tests: the bot as a subprocess, the ledger read from disk.

The database is only ever opened read-only (``mode=ro``), so reading it while the bot runs
can't change what the bot sees.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The process helpers live in tests/botprocess.py; re-exported for the resilience tests.
from tests.botprocess import BotProcess as BotProcess
from tests.botprocess import bot_env as bot_env
from tests.botprocess import bot_process as bot_process
from tests.botprocess import free_port as free_port
from tests.botprocess import wait_healthy as wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import StoredMessage

#: the tables whose rows a refused command must leave exactly as they were
LEDGER_TABLES = (
    "jobs",
    "job_images",
    "job_messages",
    "daily_usage",
    "guild_usage",
    "member_settings",
    "guild_settings",
    "role_allowances",
    "blocked_terms",
    "audit_log",
)


# ---------------------------------------------------------------------------- the ledger


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the bot's database (WAL: sees every committed write)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    return conn


def query(path: Path, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts (an empty list while the database does not exist yet)."""
    if not path.exists():
        return []
    with closing(read_only(path)) as conn:
        try:
            return [dict(row) for row in conn.execute(sql, tuple(params))]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # migrations not run yet
            raise


def job_states(path: Path) -> dict[str, str]:
    """Job id -> state."""
    return {row["id"]: row["state"] for row in query(path, "SELECT id, state FROM jobs")}


def state_counts(path: Path) -> Counter[str]:
    """How many jobs are in each state."""
    return Counter(job_states(path).values())


def snapshot(path: Path, tables: Iterable[str] = LEDGER_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables``, sorted: equal snapshots mean nothing changed."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    with closing(read_only(path)) as conn:
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            result[table] = sorted((tuple(row) for row in rows), key=repr)
    return result


@dataclass
class Accounts:
    """The ledger's money view after every job ended."""

    jobs: list[dict[str, Any]]
    delivered: dict[str, int]
    daily_used: dict[tuple[int, int], int]
    guild_used: dict[int, int]
    charged_by_member: dict[tuple[int, int], int] = field(default_factory=dict)


def accounts(path: Path) -> Accounts:
    """Jobs, delivered images per job, and the usage counters, from disk."""
    jobs = query(path, "SELECT * FROM jobs ORDER BY created_at")
    delivered = {job["id"]: 0 for job in jobs}
    for row in query(
        path,
        "SELECT job_id, COUNT(*) AS n FROM job_images "
        "WHERE delivered_at IS NOT NULL GROUP BY job_id",
    ):
        delivered[row["job_id"]] = row["n"]
    daily = {
        (row["guild_id"], row["user_id"]): row["used"]
        for row in query(path, "SELECT * FROM daily_usage")
    }
    guild = {row["guild_id"]: row["used"] for row in query(path, "SELECT * FROM guild_usage")}
    charged: Counter[tuple[int, int]] = Counter()
    for job in jobs:
        charged[(job["guild_id"], job["user_id"])] += job["charged"] or 0
    return Accounts(jobs, delivered, daily, guild, dict(charged))


# ---------------------------------------------------------------------------- Discord side


def footer_job(message: StoredMessage) -> str | None:
    """The job id a bot message's embed footer names ("Job <id>"), if any."""
    for embed in message.embeds:
        text = (embed.get("footer") or {}).get("text", "")
        if text.startswith("Job "):
            return str(text.split()[-1])
    return None


def bot_messages(discord: FakeDiscord) -> list[StoredMessage]:
    """Every public message the bot posted, in every channel (deleted ones excluded)."""
    return [
        message
        for message in discord.stored_messages.values()
        if message.author.id == discord.bot_user.id
        and not message.ephemeral
        and not message.deleted
    ]


def result_messages(discord: FakeDiscord) -> dict[str, list[StoredMessage]]:
    """Job id -> the bot's messages that carry images for it."""
    found: dict[str, list[StoredMessage]] = {}
    for message in bot_messages(discord):
        job_id = footer_job(message)
        if message.attachments:
            found.setdefault(job_id or "?", []).append(message)
    return found


def cards(discord: FakeDiscord) -> dict[str, list[StoredMessage]]:
    """Job id -> every bot message whose footer names that job (card or result)."""
    found: dict[str, list[StoredMessage]] = {}
    for message in bot_messages(discord):
        job_id = footer_job(message)
        if job_id is not None:
            found.setdefault(job_id, []).append(message)
    return found


# ---------------------------------------------------------------------------- the process


async def poll(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Until ``predicate()`` is truthy (returns it); fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)

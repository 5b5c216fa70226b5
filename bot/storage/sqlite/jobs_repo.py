"""SQL for the ``jobs``, ``job_images`` and ``job_messages`` tables.

A repo wraps the ``sqlite3.Connection`` of the transaction (or read) it was made in, inside a
function that ``Database.run``/``run_read`` calls on the database thread; it never commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.job import DoorContext, Job, JobAction, JobImage, JobKind, JobOrigin
from bot.core.request import GenerationRequest
from bot.core.states import UNFINISHED_STATES, JobState, sources
from bot.storage.protocols import UPDATABLE_JOB_FIELDS
from bot.storage.sqlite.codec import from_db_day, from_db_time, opt_time, to_db_day, to_db_time


class JobsRepo:
    """Reads and guarded writes of job rows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def insert(self, job: Job, *, callback_key: str | None = None) -> None:
        """Insert a new job row (raises ``sqlite3.IntegrityError`` on an id collision)."""
        self._conn.execute(
            """
            INSERT INTO jobs (id, guild_id, channel_id, user_id, kind, origin, parent_job_id,
                request, state, provider, callback_key, quota_day, reserved_daily,
                reserved_bonus, created_at, updated_at, upload_limit, reply_to_message_id,
                source_index, action)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                job.id,
                job.guild_id,
                job.channel_id,
                job.user_id,
                job.kind.value,
                job.origin.value,
                job.parent_job_id,
                # defaults left out: a request read back then keeps no set of every field name
                job.request.model_dump_json(exclude_defaults=True),
                job.state.value,
                job.provider,
                callback_key,
                to_db_day(job.quota_day),
                job.reserved_daily,
                job.reserved_bonus,
                to_db_time(job.created_at),
                to_db_time(job.updated_at),
                job.door.upload_limit,
                job.door.reply_to,
                job.source_index,
                job.action.value if job.action is not None else None,
            ),
        )

    def exists(self, job_id: str) -> bool:
        """Whether a job with this id exists."""
        return (
            self._conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None
        )

    def get(self, job_id: str) -> Job | None:
        """The job with its images and result messages, or None."""
        row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._hydrate(row)

    def find_by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        row = self._conn.execute("SELECT * FROM jobs WHERE callback_key = ?", (key,)).fetchone()
        return None if row is None else self._hydrate(row)

    def unfinished(self) -> list[Job]:
        """Every job not yet done, failed or cancelled, oldest first."""
        marks = ", ".join("?" for _ in UNFINISHED_STATES)
        sql = f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at, rowid"  # noqa: S608
        rows = self._conn.execute(sql, [s.value for s in UNFINISHED_STATES]).fetchall()
        return [self._hydrate(row) for row in rows]

    def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild, newest first."""
        rows = self._conn.execute(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (guild_id, user_id, limit),
        ).fetchall()
        return [self._hydrate(row) for row in rows]

    def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results, oldest first."""
        rows = self._conn.execute(
            "SELECT * FROM jobs WHERE parent_job_id = ? ORDER BY created_at, rowid", (job_id,)
        ).fetchall()
        return [self._hydrate(row) for row in rows]

    def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        counts = dict.fromkeys(JobState, 0)
        for state, count in self._conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            counts[JobState(state)] = int(count)
        return counts

    def transition(self, job_id: str, new: JobState, now: datetime, **fields: object) -> bool:
        """Move the job to ``new`` only from a state the machine allows; False if it wasn't."""
        allowed = sorted(s.value for s in sources(new))
        if not allowed:
            return False
        return self._update(job_id, now, {"state": new.value, **fields}, allowed)

    def update(
        self, job_id: str, now: datetime, *, in_states: Iterable[JobState], **fields: object
    ) -> bool:
        """Set fields without changing state, only while the job is in ``in_states``."""
        return self._update(job_id, now, dict(fields), [s.value for s in in_states])

    def _update(
        self, job_id: str, now: datetime, fields: Mapping[str, object], states: Sequence[str]
    ) -> bool:
        unknown = set(fields) - UPDATABLE_JOB_FIELDS - {"state"}
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values: dict[str, Any] = {k: _encode(v) for k, v in fields.items()}
        values["updated_at"] = to_db_time(now)
        assignments = ", ".join(f"{name} = ?" for name in values)
        marks = ", ".join("?" for _ in states)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN ({marks})"  # noqa: S608
        cursor = self._conn.execute(sql, [*values.values(), job_id, *states])
        return cursor.rowcount == 1

    def add_images(self, job_id: str, images: Sequence[JobImage]) -> None:
        """Record result images (where they wait on disk) before delivery starts."""
        self._conn.executemany(
            "INSERT INTO job_images (job_id, idx, url, filename, content_type, size) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(job_id, i.index, i.url, i.filename, i.content_type, i.size) for i in images],
        )

    def mark_delivered(
        self, job_id: str, indexes: Iterable[int], message_id: int | None, now: datetime
    ) -> None:
        """Record that these images were posted (by ``message_id`` when known); an image
        already recorded keeps its first record."""
        self._conn.executemany(
            "UPDATE job_images SET message_id = ?, delivered_at = ? "
            "WHERE job_id = ? AND idx = ? AND delivered_at IS NULL",
            [(message_id, to_db_time(now), job_id, index) for index in indexes],
        )
        if message_id is not None:
            self.add_messages(job_id, [message_id])

    def add_messages(self, job_id: str, message_ids: Iterable[int]) -> None:
        """Remember result messages posted for the job."""
        self._conn.executemany(
            "INSERT OR IGNORE INTO job_messages (job_id, message_id) VALUES (?, ?)",
            [(job_id, message_id) for message_id in message_ids],
        )

    def _hydrate(self, row: sqlite3.Row) -> Job:
        job_id = row["id"]
        images = tuple(
            JobImage(
                index=r["idx"],
                url=r["url"],
                filename=r["filename"],
                content_type=r["content_type"],
                size=r["size"],
                message_id=r["message_id"],
                delivered_at=opt_time(r["delivered_at"]),
            )
            for r in self._conn.execute(
                "SELECT * FROM job_images WHERE job_id = ? ORDER BY idx", (job_id,)
            )
        )
        messages = tuple(
            int(r[0])
            for r in self._conn.execute(
                "SELECT message_id FROM job_messages WHERE job_id = ? ORDER BY message_id",
                (job_id,),
            )
        )
        return Job(
            id=job_id,
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            user_id=row["user_id"],
            kind=JobKind(row["kind"]),
            origin=JobOrigin(row["origin"]),
            parent_job_id=row["parent_job_id"],
            source_index=row["source_index"],
            action=JobAction(row["action"]) if row["action"] is not None else None,
            door=DoorContext(upload_limit=row["upload_limit"], reply_to=row["reply_to_message_id"]),
            request=GenerationRequest.model_validate_json(row["request"]),
            state=JobState(row["state"]),
            provider=row["provider"],
            task_id=row["task_id"],
            tried_providers=tuple(json.loads(row["tried_providers"])),
            progress=row["progress"],
            quota_day=from_db_day(row["quota_day"]),
            reserved_daily=row["reserved_daily"],
            reserved_bonus=row["reserved_bonus"],
            charged=row["charged"],
            error_code=row["error_code"],
            error_message=row["error_message"],
            card_message_id=row["card_message_id"],
            result_message_ids=messages,
            images=images,
            created_at=from_db_time(row["created_at"]),
            updated_at=from_db_time(row["updated_at"]),
            submitted_at=opt_time(row["submitted_at"]),
            finished_at=opt_time(row["finished_at"]),
            callback_key=row["callback_key"],
        )


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    return value

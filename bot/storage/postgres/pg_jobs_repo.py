"""SQL for the ``jobs``, ``job_images`` and ``job_messages`` tables on PostgreSQL.

A repo wraps the connection of the transaction (or read) it was made in; it never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, LiteralString

from psycopg import AsyncConnection, AsyncCursor, sql
from psycopg.rows import TupleRow, dict_row

from bot.core.job import DoorContext, Job, JobAction, JobImage, JobKind, JobOrigin
from bot.core.request import GenerationRequest
from bot.core.states import UNFINISHED_STATES, JobState, sources
from bot.storage.protocols import UPDATABLE_JOB_FIELDS

Conn = AsyncConnection[TupleRow]

_UNFINISHED = [s.value for s in UNFINISHED_STATES]


class PgJobsRepo:
    """Reads and guarded writes of job rows."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, job: Job) -> bool:
        """Insert a new job row; False when the id is taken (draw another)."""
        return await (await self.send_insert(job)).fetchone() is not None

    async def send_insert(self, job: Job) -> AsyncCursor[TupleRow]:
        """Send the insert of a new job row; its cursor yields a row unless the id is taken
        (it is read with the other statements of the reservation)."""
        return await self._conn.execute(
            """
            INSERT INTO jobs (id, guild_id, channel_id, user_id, kind, origin, parent_job_id,
                request, state, provider, quota_day, reserved_daily, reserved_bonus,
                created_at, updated_at, upload_limit, reply_to_message_id, source_index, action)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (id) DO NOTHING RETURNING id
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
                job.quota_day,
                job.reserved_daily,
                job.reserved_bonus,
                job.created_at,
                job.updated_at,
                job.door.upload_limit,
                job.door.reply_to,
                job.source_index,
                job.action.value if job.action is not None else None,
            ),
        )

    async def exists(self, job_id: str) -> bool:
        """Whether a job with this id exists."""
        cursor = await self._conn.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,))
        return await cursor.fetchone() is not None

    async def lock(self, job_id: str) -> bool:
        """Lock the job's row until the transaction ends (every settling path takes it
        first, so two of them on one job run one after the other); False if no such job."""
        cursor = await self._conn.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        return await cursor.fetchone() is not None

    async def get(self, job_id: str) -> Job | None:
        """The job with its images and result messages, or None."""
        jobs = await self._select("WHERE id = %s", (job_id,))
        return jobs[0] if jobs else None

    async def find_by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        jobs = await self._select("WHERE callback_key = %s", (key,))
        return jobs[0] if jobs else None

    async def unfinished(self) -> list[Job]:
        """Every job not yet done, failed or cancelled, oldest first."""
        return await self._select("WHERE state = ANY(%s) ORDER BY created_at, seq", (_UNFINISHED,))

    async def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild, newest first."""
        return await self._select(
            "WHERE guild_id = %s AND user_id = %s ORDER BY created_at DESC, seq DESC LIMIT %s",
            (guild_id, user_id, limit),
        )

    async def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results, oldest first."""
        return await self._select("WHERE parent_job_id = %s ORDER BY created_at, seq", (job_id,))

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        counts = dict.fromkeys(JobState, 0)
        cursor = await self._conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")
        for state, count in await cursor.fetchall():
            counts[JobState(state)] = int(count)
        return counts

    async def transition(self, job_id: str, new: JobState, now: datetime, **fields: object) -> bool:
        """Move the job to ``new`` only from a state the machine allows; False if it wasn't."""
        allowed = sorted(s.value for s in sources(new))
        if not allowed:
            return False
        return await self._update(job_id, now, {"state": new.value, **fields}, allowed)

    async def update(
        self, job_id: str, now: datetime, *, in_states: Iterable[JobState], **fields: object
    ) -> bool:
        """Set fields without changing state, only while the job is in ``in_states``."""
        return await self._update(job_id, now, dict(fields), [s.value for s in in_states])

    async def _update(
        self, job_id: str, now: datetime, fields: Mapping[str, object], states: Sequence[str]
    ) -> bool:
        unknown = set(fields) - UPDATABLE_JOB_FIELDS - {"state"}
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values: dict[str, Any] = {k: _encode(v) for k, v in fields.items()}
        values["updated_at"] = now
        query = sql.SQL("UPDATE jobs SET {} WHERE id = %s AND state = ANY(%s) RETURNING id").format(
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in values)
        )
        cursor = await self._conn.execute(query, [*values.values(), job_id, list(states)])
        return await cursor.fetchone() is not None

    async def add_images(self, job_id: str, images: Sequence[JobImage]) -> None:
        """Record result images before delivery starts."""
        async with self._conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO job_images (job_id, idx, url, filename, content_type, size) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(job_id, i.index, i.url, i.filename, i.content_type, i.size) for i in images],
            )

    async def mark_delivered(
        self, job_id: str, indexes: Iterable[int], message_id: int | None, now: datetime
    ) -> None:
        """Record that these images were posted (by ``message_id`` when known); an image
        already recorded keeps its first record."""
        await self._conn.execute(
            "UPDATE job_images SET message_id = %s, delivered_at = %s "
            "WHERE job_id = %s AND idx = ANY(%s) AND delivered_at IS NULL",
            (message_id, now, job_id, list(indexes)),
        )
        if message_id is not None:
            await self.add_messages(job_id, [message_id])

    async def add_messages(self, job_id: str, message_ids: Iterable[int]) -> None:
        """Remember result messages posted for the job."""
        ids = list(message_ids)
        if ids:
            await self._conn.execute(
                "INSERT INTO job_messages (job_id, message_id) "
                "SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                (job_id, ids),
            )

    async def _select(self, where: LiteralString, args: Sequence[object]) -> list[Job]:
        """Jobs matching ``where`` (a fixed clause of this module), each with its images and
        messages, in three queries."""
        async with self._conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute("SELECT * FROM jobs " + where, args)  # noqa: S608 - fixed clauses
            rows = await cursor.fetchall()
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            await cursor.execute(
                "SELECT * FROM job_images WHERE job_id = ANY(%s) ORDER BY job_id, idx", (ids,)
            )
            images: dict[str, list[JobImage]] = {}
            for r in await cursor.fetchall():
                images.setdefault(r["job_id"], []).append(
                    JobImage(
                        index=r["idx"],
                        url=r["url"],
                        filename=r["filename"],
                        content_type=r["content_type"],
                        size=r["size"],
                        message_id=r["message_id"],
                        delivered_at=_utc(r["delivered_at"]),
                    )
                )
            await cursor.execute(
                "SELECT job_id, message_id FROM job_messages WHERE job_id = ANY(%s) "
                "ORDER BY job_id, message_id",
                (ids,),
            )
            messages: dict[str, list[int]] = {}
            for r in await cursor.fetchall():
                messages.setdefault(r["job_id"], []).append(int(r["message_id"]))
        return [
            _hydrate(row, tuple(images.get(row["id"], ())), tuple(messages.get(row["id"], ())))
            for row in rows
        ]


def _hydrate(row: dict[str, Any], images: tuple[JobImage, ...], messages: tuple[int, ...]) -> Job:
    return Job(
        id=row["id"],
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
        tried_providers=tuple(row["tried_providers"]),
        progress=row["progress"],
        quota_day=row["quota_day"],
        reserved_daily=row["reserved_daily"],
        reserved_bonus=row["reserved_bonus"],
        charged=row["charged"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        card_message_id=row["card_message_id"],
        result_message_ids=messages,
        images=images,
        created_at=row["created_at"].astimezone(UTC),
        updated_at=row["updated_at"].astimezone(UTC),
        submitted_at=_utc(row["submitted_at"]),
        finished_at=_utc(row["finished_at"]),
        callback_key=row["callback_key"],
    )


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime; the clock must return aware UTC times")
        return value
    if isinstance(value, tuple):
        return list(value)
    return value

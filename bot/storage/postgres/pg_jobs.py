"""``JobStore`` on PostgreSQL: each method is one transaction (or read) on a pooled connection.

Creating a job reserves its quota in the same transaction; ending a job settles the
reservation in the same transaction as the state change, with the job's row locked first,
so a job is charged exactly once whichever process replays its end, however often.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime

from psycopg import AsyncCursor
from psycopg.rows import TupleRow

from bot.core.accounts import Ending, Reservation
from bot.core.ids import new_job_id
from bot.core.job import Job, JobImage, JobSpec
from bot.core.request import GenerationRequest
from bot.core.states import IllegalTransitionError, JobState
from bot.storage.postgres import pg_quotas
from bot.storage.postgres.pg_jobs_repo import PgJobsRepo
from bot.storage.postgres.pg_pool import Conn, Pool, read, transact
from bot.storage.protocols import QuotaRules

_ID_ATTEMPTS = 8


class PgJobStore:
    """Job rows and their quota reservations on one pool."""

    def __init__(self, pool: Pool, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock
        #: awaited inside the creating transaction once the row exists (the cluster path
        #: queues the job there, so it is queued atomically with its creation and quota)
        self.on_created: Callable[[Conn, Job], Awaitable[None]] | None = None

    async def create(self, spec: JobSpec, request: GenerationRequest, rules: QuotaRules) -> Job:
        """Admit the member (block, blocklist, budget, quota), reserve and insert, atomically."""

        async def create(conn: Conn) -> Job:
            now = self._clock()
            repo = PgJobsRepo(conn)

            def job_for(held: Reservation) -> Job:
                return held.queued_job(new_job_id(), spec, request, now)

            jobs: list[Job] = []

            async def insert(held: Reservation) -> AsyncCursor[TupleRow]:
                jobs.append(job_for(held))
                return await repo.send_insert(jobs[-1])

            held, inserted = await pg_quotas.reserve(
                conn,
                rules,
                guild_id=spec.guild_id,
                user_id=spec.user_id,
                role_ids=tuple(spec.role_ids),
                count=request.count,
                prompt=request.prompt,
                now=now,
                along=insert,
            )
            if await inserted.fetchone() is not None:
                return await created(conn, jobs[-1])
            for _ in range(_ID_ATTEMPTS):  # 40 random bits collided; draw again
                job = job_for(held)
                if await repo.insert(job):
                    return await created(conn, job)
            raise RuntimeError("could not draw an unused job id")

        async def created(conn: Conn, job: Job) -> Job:
            if self.on_created is not None:
                await self.on_created(conn, job)
            return job

        return await transact(self._pool, create)

    async def get(self, job_id: str) -> Job | None:
        """The job, or None."""
        return await read(self._pool, lambda conn: PgJobsRepo(conn).get(job_id))

    async def unfinished(self) -> list[Job]:
        """Jobs to resume, oldest first."""
        return await read(self._pool, lambda conn: PgJobsRepo(conn).unfinished())

    async def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild."""
        return await read(
            self._pool, lambda conn: PgJobsRepo(conn).recent(guild_id, user_id, limit)
        )

    async def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results, oldest first."""
        return await read(self._pool, lambda conn: PgJobsRepo(conn).children(job_id))

    async def by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        return await read(self._pool, lambda conn: PgJobsRepo(conn).find_by_callback_key(key))

    async def count_by_state(self) -> dict[JobState, int]:
        """Jobs per state (for the metrics gauge)."""
        return await read(self._pool, lambda conn: PgJobsRepo(conn).count_by_state())

    async def transition(self, job_id: str, new: JobState, **fields: object) -> Job:
        """Move the job to ``new`` or raise ``IllegalTransitionError``."""

        async def transition(conn: Conn) -> Job:
            repo = PgJobsRepo(conn)
            if not await repo.transition(job_id, new, self._clock(), **fields):
                raise await _refusal(repo, job_id, new)
            return await _require(repo, job_id)

        return await transact(self._pool, transition)

    async def amend(self, job_id: str, in_states: Iterable[JobState], **fields: object) -> bool:
        """Set fields while the job is in one of ``in_states``; False if it no longer is."""
        states = tuple(in_states)
        return await transact(
            self._pool,
            lambda conn: PgJobsRepo(conn).update(job_id, self._clock(), in_states=states, **fields),
        )

    async def start_delivering(
        self, job_id: str, images: Sequence[JobImage], **fields: object
    ) -> Job:
        """Record the stored images and enter ``delivering`` together."""

        async def start_delivering(conn: Conn) -> Job:
            repo = PgJobsRepo(conn)
            if not await repo.transition(job_id, JobState.DELIVERING, self._clock(), **fields):
                raise await _refusal(repo, job_id, JobState.DELIVERING)
            await repo.add_images(job_id, images)
            return await _require(repo, job_id)

        return await transact(self._pool, start_delivering)

    async def mark_delivered(
        self, job_id: str, indexes: Sequence[int], message_id: int | None
    ) -> None:
        """Record posted images at once, so a restart does not post them again."""
        await transact(
            self._pool,
            lambda conn: PgJobsRepo(conn).mark_delivered(
                job_id, indexes, message_id, self._clock()
            ),
        )

    async def record_posted(
        self,
        job_id: str,
        indexes: Sequence[int],
        message_id: int | None,
        rules: QuotaRules,
        *,
        awaited: Collection[int] | None = None,
    ) -> Ending | None:
        """Record posted images and, once none awaited is left, end as done and settle."""

        async def record(conn: Conn) -> Ending | None:
            repo = PgJobsRepo(conn)
            await repo.lock(job_id)
            if (await _require(repo, job_id)).state is not JobState.DELIVERING:
                return None  # settled already: its record stays what it was charged for
            await repo.mark_delivered(job_id, indexes, message_id, self._clock())
            job = await _require(repo, job_id)
            waiting = [
                image
                for image in job.images
                if not image.delivered and (awaited is None or image.index in awaited)
            ]
            if waiting or not any(image.delivered for image in job.images):
                return None
            return await self._end(conn, repo, rules, job, JobState.DONE)

        return await transact(self._pool, record)

    async def record_messages(
        self, job_id: str, card_message_id: int | None, result_message_ids: Sequence[int]
    ) -> bool:
        """Remember the job's card and result messages; False when the job doesn't exist."""

        async def record(conn: Conn) -> bool:
            repo = PgJobsRepo(conn)
            if not await repo.exists(job_id):
                return False
            if card_message_id is not None:
                await repo.update(
                    job_id, self._clock(), in_states=JobState, card_message_id=card_message_id
                )
            await repo.add_messages(job_id, result_message_ids)
            return True

        return await transact(self._pool, record)

    async def finish(
        self,
        job_id: str,
        new: JobState,
        rules: QuotaRules,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Ending:
        """Enter a final state and settle the quota: charge the images posted, refund the rest."""
        if not new.finished:
            raise ValueError(f"{new} is not a final state")

        async def finish(conn: Conn) -> Ending:
            repo = PgJobsRepo(conn)
            await repo.lock(job_id)
            job = await _require(repo, job_id)
            return await self._end(
                conn, repo, rules, job, new, error_code=error_code, error_message=error_message
            )

        return await transact(self._pool, finish)

    async def _end(
        self,
        conn: Conn,
        repo: PgJobsRepo,
        rules: QuotaRules,
        job: Job,
        new: JobState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Ending:
        """The final transition and the settlement, inside the caller's transaction (the
        job's row locked)."""
        charged = sum(1 for image in job.images if image.delivered)
        now = self._clock()
        if not await repo.transition(
            job.id,
            new,
            now,
            charged=charged,
            error_code=error_code,
            error_message=error_message,
            finished_at=now,
        ):
            raise await _refusal(repo, job.id, new)
        settlement = await pg_quotas.settle(conn, rules, job, charged, now)
        return Ending(await _require(repo, job.id), settlement)


async def _require(repo: PgJobsRepo, job_id: str) -> Job:
    job = await repo.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} vanished from the ledger")
    return job


async def _refusal(repo: PgJobsRepo, job_id: str, new: JobState) -> IllegalTransitionError:
    return IllegalTransitionError(job_id, (await _require(repo, job_id)).state, new)

"""``JobStore`` on SQLite: each method is one transaction (or read) in one thread hop.

Creating a job reserves its quota in the same transaction; ending a job settles the
reservation in the same transaction as the state change, so a job is charged exactly once
no matter how often a restart or a duplicate callback replays the end.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

import stamina

from bot.core.accounts import Ending
from bot.core.ids import new_job_id
from bot.core.job import Job, JobImage, JobSpec
from bot.core.request import GenerationRequest
from bot.core.states import IllegalTransitionError, JobState
from bot.storage.protocols import QuotaRules
from bot.storage.sqlite import quota_store
from bot.storage.sqlite.connection import Database
from bot.storage.sqlite.jobs_repo import JobsRepo

log = logging.getLogger(__name__)
T = TypeVar("T")

_ID_ATTEMPTS = 8
#: backoff between tries of a settle that found the database locked (each try already
#: waited the connection's busy timeout); it never gives up: a job whose images were posted
#: must end as done, not as failed
LOCKED_WAIT_INITIAL = 0.05
LOCKED_WAIT_MAX = 2.0
LOCKED_WAIT_JITTER = 0.1


class SqliteJobStore:
    """Job rows and their quota reservations on one ``Database``."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def create(self, spec: JobSpec, request: GenerationRequest, rules: QuotaRules) -> Job:
        """Admit the member (block, blocklist, budget, quota), reserve and insert, atomically."""

        def create(conn: sqlite3.Connection) -> Job:
            now = self._clock()
            reservation = quota_store.reserve(
                conn,
                rules,
                guild_id=spec.guild_id,
                user_id=spec.user_id,
                role_ids=tuple(spec.role_ids),
                count=request.count,
                prompt=request.prompt,
                now=now,
            )
            repo = JobsRepo(conn)
            for _ in range(_ID_ATTEMPTS):
                job = reservation.queued_job(new_job_id(), spec, request, now)
                try:
                    repo.insert(job)
                except sqlite3.IntegrityError:
                    if repo.exists(job.id):
                        continue  # 40 random bits collided; draw again
                    raise
                return job
            raise RuntimeError("could not draw an unused job id")

        return await self._db.run(create)

    async def get(self, job_id: str) -> Job | None:
        """The job, or None."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).get(job_id))

    async def unfinished(self) -> list[Job]:
        """Jobs to resume at start, oldest first."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).unfinished())

    async def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).recent(guild_id, user_id, limit))

    async def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results, oldest first."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).children(job_id))

    async def by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).find_by_callback_key(key))

    async def count_by_state(self) -> dict[JobState, int]:
        """Jobs per state (for the metrics gauge)."""
        return await self._db.run_read(lambda conn: JobsRepo(conn).count_by_state())

    async def transition(self, job_id: str, new: JobState, **fields: object) -> Job:
        """Move the job to ``new`` or raise ``IllegalTransitionError``."""

        def transition(conn: sqlite3.Connection) -> Job:
            repo = JobsRepo(conn)
            if not repo.transition(job_id, new, self._clock(), **fields):
                raise _refusal(repo, job_id, new)
            return _require(repo, job_id)

        return await self._db.run(transition)

    async def amend(self, job_id: str, in_states: Iterable[JobState], **fields: object) -> bool:
        """Set fields while the job is in one of ``in_states``; False if it no longer is."""
        return await self._db.run(
            lambda conn: JobsRepo(conn).update(job_id, self._clock(), in_states=in_states, **fields)
        )

    async def start_delivering(
        self, job_id: str, images: Sequence[JobImage], **fields: object
    ) -> Job:
        """Record the stored images and enter ``delivering`` together."""

        def start_delivering(conn: sqlite3.Connection) -> Job:
            repo = JobsRepo(conn)
            if not repo.transition(job_id, JobState.DELIVERING, self._clock(), **fields):
                raise _refusal(repo, job_id, JobState.DELIVERING)
            repo.add_images(job_id, images)
            return _require(repo, job_id)

        return await self._db.run(start_delivering)

    async def mark_delivered(
        self, job_id: str, indexes: Sequence[int], message_id: int | None
    ) -> None:
        """Record posted images at once, so a restart does not post them again."""
        await self._db.run(
            lambda conn: JobsRepo(conn).mark_delivered(job_id, indexes, message_id, self._clock())
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

        def record(conn: sqlite3.Connection) -> Ending | None:
            repo = JobsRepo(conn)
            if _require(repo, job_id).state is not JobState.DELIVERING:
                return None  # settled already: its record stays what it was charged for
            repo.mark_delivered(job_id, indexes, message_id, self._clock())
            job = _require(repo, job_id)
            waiting = [
                image
                for image in job.images
                if not image.delivered and (awaited is None or image.index in awaited)
            ]
            if waiting or not any(image.delivered for image in job.images):
                return None
            return self._end(conn, repo, rules, job, JobState.DONE)

        return await self._settling(record)

    async def record_messages(
        self, job_id: str, card_message_id: int | None, result_message_ids: Sequence[int]
    ) -> bool:
        """Remember the job's card and result messages; False when the job doesn't exist."""

        def record(conn: sqlite3.Connection) -> bool:
            repo = JobsRepo(conn)
            if not repo.exists(job_id):
                return False
            if card_message_id is not None:
                repo.update(
                    job_id, self._clock(), in_states=JobState, card_message_id=card_message_id
                )
            repo.add_messages(job_id, result_message_ids)
            return True

        return await self._db.run(record)

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

        def finish(conn: sqlite3.Connection) -> Ending:
            repo = JobsRepo(conn)
            job = _require(repo, job_id)
            return self._end(
                conn, repo, rules, job, new, error_code=error_code, error_message=error_message
            )

        return await self._settling(finish)

    def _end(
        self,
        conn: sqlite3.Connection,
        repo: JobsRepo,
        rules: QuotaRules,
        job: Job,
        new: JobState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Ending:
        """The final transition and the settlement, inside the caller's transaction."""
        charged = sum(1 for image in job.images if image.delivered)
        now = self._clock()
        if not repo.transition(
            job.id,
            new,
            now,
            charged=charged,
            error_code=error_code,
            error_message=error_message,
            finished_at=now,
        ):
            raise _refusal(repo, job.id, new)
        settlement = quota_store.settle(conn, rules, job, charged, now)
        return Ending(_require(repo, job.id), settlement)

    async def _settling(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one transaction, tried again while the database is locked (another
        process or a long writer held it past the busy timeout)."""
        return await _retry_locked(lambda: self._db.run(fn))


async def _retry_locked(call: Callable[[], Awaitable[T]]) -> T:
    async for attempt in stamina.retry_context(
        on=is_locked,
        attempts=None,
        timeout=None,
        wait_initial=LOCKED_WAIT_INITIAL,
        wait_max=LOCKED_WAIT_MAX,
        wait_jitter=LOCKED_WAIT_JITTER,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


def is_locked(exc: Exception) -> bool:
    """True for SQLite's "database is locked" (and "... table is locked")."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        log.warning("database is locked; trying again: %s", exc)
        return True
    return False


def _require(repo: JobsRepo, job_id: str) -> Job:
    job = repo.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} vanished from the ledger")
    return job


def _refusal(repo: JobsRepo, job_id: str, new: JobState) -> IllegalTransitionError:
    return IllegalTransitionError(job_id, _require(repo, job_id).state, new)

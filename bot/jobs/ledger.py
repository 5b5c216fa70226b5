"""The engine's view of storage: the job store, with the quota rules bound in.

Each method is one store operation (one transaction). Creating a job reserves its quota
in the same transaction; ending a job settles the reservation in the same transaction as
the state change, so a job is charged exactly once no matter how often a restart or a
duplicate callback replays the end.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from bot.core.accounts import Ending
from bot.core.job import Job, JobImage, JobSpec
from bot.core.request import GenerationRequest
from bot.core.states import JobState
from bot.storage.protocols import JobStore, QuotaRules

__all__ = ["Ending", "JobLedger"]


class JobLedger:
    """Job rows and their quota reservations, through a ``JobStore``."""

    def __init__(self, jobs: JobStore, rules: QuotaRules) -> None:
        self._jobs = jobs
        self._rules = rules

    async def create(self, spec: JobSpec, request: GenerationRequest) -> Job:
        """Admit the member (block, blocklist, budget, quota), reserve and insert, atomically."""
        return await self._jobs.create(spec, request, self._rules)

    async def get(self, job_id: str) -> Job | None:
        """The job, or None."""
        return await self._jobs.get(job_id)

    async def require(self, job_id: str) -> Job:
        """The job; a missing row here is a bug, not a user error."""
        job = await self._jobs.get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} vanished from the ledger")
        return job

    async def unfinished(self) -> list[Job]:
        """Jobs to resume at start, oldest first."""
        return await self._jobs.unfinished()

    async def recent(self, guild_id: int, user_id: int, limit: int) -> list[Job]:
        """A member's latest jobs in a guild."""
        return await self._jobs.recent(guild_id, user_id, limit)

    async def children(self, job_id: str) -> list[Job]:
        """The jobs made from this job's results, oldest first."""
        return await self._jobs.children(job_id)

    async def by_callback_key(self, key: str) -> Job | None:
        """The job whose current callback secret hashes to ``key``."""
        return await self._jobs.by_callback_key(key)

    async def count_by_state(self) -> dict[JobState, int]:
        """Jobs per state (for the metrics gauge)."""
        return await self._jobs.count_by_state()

    async def transition(self, job_id: str, new: JobState, **fields: object) -> Job:
        """Move the job to ``new``; raises ``IllegalTransitionError`` when its state forbids it
        (including when another path got there first)."""
        return await self._jobs.transition(job_id, new, **fields)

    async def update(self, job_id: str, in_states: Iterable[JobState], **fields: object) -> bool:
        """Set fields while the job is in one of ``in_states``; False if it no longer is."""
        return await self._jobs.amend(job_id, in_states, **fields)

    async def start_delivering(
        self, job_id: str, images: Sequence[JobImage], **fields: object
    ) -> Job:
        """Record the stored images and enter ``delivering`` together."""
        return await self._jobs.start_delivering(job_id, images, **fields)

    async def mark_delivered(
        self, job_id: str, indexes: Sequence[int], message_id: int | None
    ) -> None:
        """Record posted images at once, so a restart does not post them again."""
        await self._jobs.mark_delivered(job_id, indexes, message_id)

    async def record_posted(
        self,
        job_id: str,
        indexes: Sequence[int],
        message_id: int | None,
        *,
        awaited: Collection[int] | None = None,
    ) -> Ending | None:
        """Record posted images; once none of ``awaited`` (default: every image of the job)
        is left unposted, end the job as done and settle it in the same transaction.

        The Ending when this record settled the job, else None. So nobody ever sees every
        image posted and the reservation still open, and a restart after any record finds
        either images left to post or a settled job, never a half-way state.
        """
        return await self._jobs.record_posted(
            job_id, indexes, message_id, self._rules, awaited=awaited
        )

    async def record_messages(
        self, job_id: str, card_message_id: int | None, result_message_ids: Sequence[int]
    ) -> bool:
        """Remember the job's card and result messages; False when the job doesn't exist."""
        return await self._jobs.record_messages(job_id, card_message_id, result_message_ids)

    async def finish(
        self,
        job_id: str,
        new: JobState,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Ending:
        """Enter a final state and settle the quota: charge the images posted, refund the rest."""
        return await self._jobs.finish(
            job_id, new, self._rules, error_code=error_code, error_message=error_message
        )

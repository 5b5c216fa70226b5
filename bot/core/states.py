"""The one job state machine: which transitions exist, and a guard that refuses the rest.

``queued → submitted → running → delivering → done``, plus ``failed`` and ``cancelled``.
The SQL update that performs a transition repeats the guard (``WHERE state IN (...)``), so a
late callback and a poll racing to finish one job cannot both succeed.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DELIVERING = "delivering"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once nothing more will happen to the job."""
        return self in FINAL_STATES

    @property
    def at_provider(self) -> bool:
        """True while a provider task exists that the job waits on."""
        return self in (JobState.SUBMITTED, JobState.RUNNING)


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
UNFINISHED_STATES = frozenset(set(JobState) - FINAL_STATES)

#: new state -> the states it may be entered from
_ALLOWED_FROM: dict[JobState, frozenset[JobState]] = {
    # submitted → submitted / running → submitted: a failed task resubmitted to the next
    # provider (failover); the task id and provider change in the same update.
    JobState.SUBMITTED: frozenset({JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING}),
    JobState.RUNNING: frozenset({JobState.SUBMITTED}),
    # submitted → delivering: a synchronous provider, or a task that finished between polls
    JobState.DELIVERING: frozenset({JobState.SUBMITTED, JobState.RUNNING}),
    JobState.DONE: frozenset({JobState.DELIVERING}),
    JobState.FAILED: frozenset(UNFINISHED_STATES),
    # once a provider has the request, the member's images may already be generating
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
}


class IllegalTransitionError(RuntimeError):
    """A job was asked to move between two states the machine does not connect."""

    def __init__(self, job_id: str, old: JobState, new: JobState) -> None:
        self.job_id = job_id
        self.old = old
        self.new = new
        super().__init__(f"job {job_id}: illegal transition {old} → {new}")


def sources(new: JobState) -> frozenset[JobState]:
    """The states from which ``new`` may be entered (empty for ``queued``: only inserted)."""
    return _ALLOWED_FROM.get(new, frozenset())


def can_transition(old: JobState, new: JobState) -> bool:
    """Whether ``old → new`` is an edge of the machine."""
    return old in sources(new)


def check_transition(job_id: str, old: JobState, new: JobState) -> None:
    """Raise ``IllegalTransitionError`` unless ``old → new`` is allowed."""
    if not can_transition(old, new):
        raise IllegalTransitionError(job_id, old, new)

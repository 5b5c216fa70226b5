"""Asking whether a job would be admitted, before any costly work, without reserving."""

from __future__ import annotations

from bot.core.job import JobSpec
from bot.quotas.rules import QuotaService


class Admission:
    """A dry run of the quota reservation a job's creation makes.

    The doors call :meth:`precheck` before they download or decode anything, so a member
    who would be refused (blocked, a blocked term, a budget or quota spent, a server not
    allowed) costs the bot nothing. It is the store's ``precheck``: the reservation's own
    rules (``QuotaService.admit``) over a fresh snapshot, so the same checks in the same
    order with the same messages, and nothing written. Creating the job reserves again
    atomically, so a precheck that passed can still be refused there.
    """

    def __init__(self, quota: QuotaService) -> None:
        self._quota = quota

    async def precheck(self, spec: JobSpec) -> None:
        """Raise what creating ``spec`` would raise from the quota rules; change nothing."""
        await self._quota.precheck(spec)

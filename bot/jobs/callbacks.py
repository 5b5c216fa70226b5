"""Provider callbacks: find the job by its secret, check the body, never trust it.

A callback only says "look now". The job is found through the sha256 of the secret in the
URL (a non-secret index), the hashes are compared in constant time, the body must parse
with the provider's own parser and name the job's task; then the engine wakes the job,
which asks the provider's status endpoint. Nothing here changes the ledger.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from enum import StrEnum

from bot.core.ids import callback_key
from bot.core.job import Job
from bot.core.states import JobState
from bot.jobs.ledger import JobLedger
from bot.providers.base import Provider

log = logging.getLogger(__name__)


class CallbackOutcome(StrEnum):
    """What a provider callback did; the web layer maps it to an HTTP status."""

    WOKEN = "woken"  # 200: the job re-checks with the provider now
    IGNORED = "ignored"  # 200: a duplicate or late callback; nothing to do
    NO_PROVIDER = "no_provider"  # 404: no such provider here (decided before any lookup)
    NOT_FOUND = "not_found"  # 404: unknown secret, or a secret of another provider
    BAD_REQUEST = "bad_request"  # 400: unreadable body, or another task's id


async def check_callback(
    ledger: JobLedger, providers: Sequence[Provider], provider_name: str, secret: str, body: bytes
) -> tuple[CallbackOutcome, Job | None]:
    """The outcome, and the job to wake when it is ``WOKEN``."""
    # a name from the URL that is not a configured provider never reaches the database
    provider = next((p for p in providers if p.name == provider_name), None)
    if provider is None:
        return CallbackOutcome.NO_PROVIDER, None
    key = callback_key(secret)
    job = await ledger.by_callback_key(key)
    if job is None or job.callback_key is None or not hmac.compare_digest(job.callback_key, key):
        return CallbackOutcome.NOT_FOUND, None
    if job.provider != provider_name:
        return CallbackOutcome.NOT_FOUND, None
    try:
        hint = provider.parse_callback(body)
    except Exception:  # whatever the adapter raises for an unreadable body
        log.info("job %s: unreadable callback from %s", job.id, provider_name)
        return CallbackOutcome.BAD_REQUEST, None
    if job.task_id is not None and hint.task_id != job.task_id:
        log.info("job %s: callback names another task", job.id)
        return CallbackOutcome.BAD_REQUEST, None
    if job.state.finished or job.state is JobState.DELIVERING:
        return CallbackOutcome.IGNORED, None
    # queued with a provider: the answer beat our record of the submit; waking is harmless
    return CallbackOutcome.WOKEN, job

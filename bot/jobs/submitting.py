"""One submit of a job to one provider, within the provider's adaptive limit and pacing.

A 429 is tried again on the same provider: at once when a slot and the provider's pause
allow, if other jobs of ours were there (the limit shrank, and may well explain it); else up
to ``rate_limit_retries`` times with backoff, after which the 429 fails over.
"""

from __future__ import annotations

import asyncio
import logging

from bot.core.errors import ProviderError, ProviderUnavailableError, RateLimitedError
from bot.core.request import GenerationRequest, TaskStatus
from bot.core.retry import rate_limit_wait
from bot.jobs.options import ProviderSlots, RunnerConfig
from bot.jobs.waiting import Sleep
from bot.metrics import EngineMetrics
from bot.providers.base import Provider

log = logging.getLogger(__name__)


async def submit_to(
    provider: Provider,
    request: GenerationRequest,
    callback_url: str | None,
    job_id: str,
    *,
    slots: ProviderSlots,
    metrics: EngineMetrics,
    config: RunnerConfig,
    sleep: Sleep,
) -> TaskStatus:
    """Submit the job's request; the job holds a slot of ``provider`` (and keeps one)."""
    loop = asyncio.get_running_loop()
    retries = 0
    while True:
        started = loop.time()
        try:
            status = await provider.submit(request, callback_url=callback_url)
        except RateLimitedError as exc:
            metrics.provider_error(provider.name, exc)
            if not slots.refused(job_id, provider.name, exc.retry_after):
                if retries >= config.rate_limit_retries:
                    raise  # the next provider's before() takes a slot there
                wait = rate_limit_wait(
                    exc.retry_after,
                    retries,
                    backoff=config.retry_backoff,
                    max_wait=config.max_retry_wait,
                )
                retries += 1
                log.info("job %s: %s rate limited; retry in %.1f s", job_id, provider.name, wait)
                await sleep(wait)
            else:
                log.debug("job %s: %s is full; waiting for a slot", job_id, provider.name)
            await slots.acquire(job_id, provider.name)
            await slots.turn(provider.name)
            continue
        except ProviderError as exc:
            metrics.provider_error(provider.name, exc)
            if isinstance(exc, ProviderUnavailableError):
                slots.faulted(provider.name)
            raise
        metrics.observe_latency(provider.name, "submit", loop.time() - started)
        slots.accepted(provider.name)
        return status

"""Provider selection and failover, shared by the job runner and ``seedream-bot generate``.

The rules live here once: which providers can take a request (``candidates``), submitting
with failover to the next one (``submit_with_failover``), and which failed tasks fail over
(``task_failure``). The job runner calls them with its bookkeeping (ledger, slots, callback
secrets) in the hooks; the CLI runs the whole path in one call, ``generate``: submit with
failover → wait → download, all within one deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from bot.core.errors import (
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RequestValidationError,
)
from bot.core.localizable import N_
from bot.core.request import GenerationRequest, TaskState, TaskStatus
from bot.core.retry import RATE_LIMIT_BACKOFF, RATE_LIMIT_RETRIES, retry_rate_limited
from bot.jobs.waiting import DEFAULT_SCHEDULE, OnUpdate, PollSchedule, wait_for_task
from bot.providers.base import Provider
from bot.providers.downloads import DEFAULT_MAX_BYTES, download_images
from bot.providers.failures import failure_error

DEFAULT_DEADLINE = 900.0

#: ``await submit(provider, validated_request, callback_url)``: one provider's submit
Submit = Callable[[Provider, GenerationRequest, str | None], Awaitable[TaskStatus]]
#: ``await before(provider)`` just before its submit; returns the callback URL, if any
BeforeSubmit = Callable[[Provider], Awaitable[str | None]]
#: ``await refused(provider, error)`` when a provider refused and the next one is tried
Refused = Callable[[Provider, ProviderError], Awaitable[None]]

NO_PROVIDER_LEFT = N_("No configured provider can take this request right now.")


def candidates(
    providers: Sequence[Provider], request: GenerationRequest, *, exclude: Sequence[str] = ()
) -> list[Provider]:
    """The providers that can take ``request``, in failover order, minus ``exclude``."""
    found = []
    for provider in providers:
        if provider.name in exclude:
            continue
        try:
            provider.validate(request)
        except (RequestValidationError, NotImplementedError):
            continue
        found.append(provider)
    return found


def first_candidate(
    providers: Sequence[Provider], request: GenerationRequest, *, exclude: Sequence[str] = ()
) -> Provider:
    """The provider a new request goes to; when none can take it, the first provider's
    reason (a ``RequestValidationError``: nothing was sent)."""
    first_error: RequestValidationError | None = None
    for provider in providers:
        if provider.name in exclude:
            continue
        try:
            provider.validate(request)
        except RequestValidationError as exc:
            first_error = first_error or exc
            continue
        except NotImplementedError:
            continue
        return provider
    raise first_error or RequestValidationError(
        "model", N_("no configured provider can generate this request.")
    )


async def submit_rate_limited(
    provider: Provider, request: GenerationRequest, callback_url: str | None
) -> TaskStatus:
    """A submit, tried again on the same provider after a 429 (``bot.core.retry``)."""
    return await retry_rate_limited(
        lambda: provider.submit(request, callback_url=callback_url),
        retries=RATE_LIMIT_RETRIES,
        backoff=RATE_LIMIT_BACKOFF,
    )


async def _no_callback(provider: Provider) -> None:
    return None


async def _nothing(provider: Provider, error: ProviderError) -> None:
    return None


async def submit_with_failover(
    providers: Sequence[Provider],
    request: GenerationRequest,
    *,
    submit: Submit = submit_rate_limited,
    before: BeforeSubmit = _no_callback,
    refused: Refused = _nothing,
) -> tuple[Provider, TaskStatus]:
    """Submit to the first of ``providers`` that takes the request.

    A provider whose error says ``failover`` (its key refused, out of credits, rate limited
    past the retries, unreachable, the model not offered) hands over to the next; any other
    error is final. Raises the last refusal when every provider refused.
    """
    last_error: ProviderError | None = None
    for provider in providers:
        validated = provider.validate(request)
        callback_url = await before(provider)
        try:
            status = await submit(provider, validated, callback_url)
        except ProviderError as exc:
            if not exc.failover:
                raise
            last_error = exc
            await refused(provider, exc)
            continue
        return provider, status
    raise last_error or ProviderUnavailableError(NO_PROVIDER_LEFT)


def task_failure(status: TaskStatus, provider: Provider) -> tuple[ProviderError, bool]:
    """The error for a FAILED task, and whether another provider may succeed where it failed."""
    error = failure_error(status, provider=provider.name, display=provider.display_name)
    retryable = status.error is not None and status.error.retryable
    return error, error.failover or retryable


@dataclass(frozen=True)
class GenerationResult:
    """Image bytes (sniffed PNG/JPEG/WebP) and what produced them."""

    images: tuple[bytes, ...]
    provider: str
    model: str
    task_id: str
    requested: int

    @property
    def delivered(self) -> int:
        """How many usable images came back (may be fewer than ``requested``)."""
        return len(self.images)


def wire_model(provider: Provider, request: GenerationRequest) -> str:
    """The model id a validated request is sent with (the edit id when references are given)."""
    spec = provider.capabilities.model(request.model)
    return spec.edit_id if request.is_edit and spec.edit_id else spec.id


async def generate(
    providers: Sequence[Provider],
    request: GenerationRequest,
    *,
    client: httpx.AsyncClient,
    deadline: float = DEFAULT_DEADLINE,
    on_update: OnUpdate | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    schedule: PollSchedule = DEFAULT_SCHEDULE,
) -> GenerationResult:
    """Generate and download with the bot's selection and failover, within ``deadline`` s.

    Raises RequestValidationError before any request when no provider can take it, else a
    ProviderError (a FAILED task becomes TaskFailedError or ContentFilteredError). A provider
    that refuses the submit, whose status endpoint stays broken, or whose task fails in a way
    another may not, hands over to the next, as a job does. ``deadline`` bounds the whole
    call: submits (a synchronous provider generates during one), waiting and downloads; past
    it, whatever is in flight is cancelled and ProviderTimeoutError says which step it was.
    ``on_update`` sees every distinct status, from the submit answer on.
    """
    remaining = candidates(providers, request)
    if not remaining:
        first_candidate(providers, request)  # raises the first provider's reason
    step = _Step(remaining[0], deadline)

    async def before(provider: Provider) -> None:
        step.provider, step.name, step.task_id = provider, "submit", None

    async def refused(provider: Provider, error: ProviderError) -> None:
        tried.append(provider.name)

    tried: list[str] = []
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            while True:
                left = [p for p in remaining if p.name not in tried]
                provider, status = await submit_with_failover(
                    left, request, before=before, refused=refused
                )
                tried.append(provider.name)
                more = any(p.name not in tried for p in remaining)
                step.task_id = status.task_id
                if on_update is not None:
                    await on_update(status)
                if not status.state.finished:
                    step.name = "wait"
                    try:
                        status = await wait_for_task(
                            provider,
                            status.task_id,
                            # the timer above ends the wait; this only has to outlast it
                            deadline=deadline + 1.0,
                            on_update=_skip_repeat(status, on_update),
                            schedule=schedule,
                        )
                    except ProviderUnavailableError:
                        if more:  # its status endpoint stopped answering: try the next
                            continue
                        raise
                if status.state is TaskState.FAILED:
                    error, fails_over = task_failure(status, provider)
                    if fails_over and more:
                        continue
                    raise error
                step.name = "download"
                images = await download_images(client, status.images, max_bytes=max_bytes)
                break
    except TimeoutError:
        if timer.expired():
            raise step.timeout_error() from None
        raise
    return GenerationResult(
        images=tuple(images),
        provider=provider.name,
        model=wire_model(provider, provider.validate(request)),
        task_id=status.task_id,
        requested=request.count,
    )


class _Step:
    """Where ``generate`` is, so a timeout can say what did not happen in time."""

    def __init__(self, provider: Provider, deadline: float) -> None:
        self.provider = provider
        self.deadline = deadline
        self.name = "submit"
        self.task_id: str | None = None

    def timeout_error(self) -> ProviderTimeoutError:
        display, within = self.provider.display_name, f"within {self.deadline:g} s"
        if self.name == "submit":
            what = f"{display} did not answer {within}."
        elif self.name == "wait":
            what = (
                f"{display} did not finish task {self.task_id} {within}; "
                "it may still run, and be charged."
            )
        else:
            what = f"The images from {display} did not download {within}."
        return ProviderTimeoutError(what, provider=self.provider.name)


def _skip_repeat(first: TaskStatus, on_update: OnUpdate | None) -> OnUpdate | None:
    """``on_update`` minus polls that only repeat the submit answer (progress 0 ≈ none)."""
    if on_update is None:
        return None
    repeating = True

    async def forward(status: TaskStatus) -> None:
        nonlocal repeating
        same = (status.state, status.progress or 0, len(status.images)) == (
            first.state,
            first.progress or 0,
            len(first.images),
        )
        if repeating and same:
            return
        repeating = False
        await on_update(status)

    return forward

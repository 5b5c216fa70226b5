"""The whole generation path in one call: validate → submit → wait → download.

The job engine uses the pieces (``Provider.submit``, ``wait_for_task``, ``download_images``)
with its own bookkeeping in between; the CLI uses ``generate``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from bot.downloads import DEFAULT_MAX_BYTES, download_images
from bot.models import GenerationRequest, TaskState, TaskStatus
from bot.providers.base import Provider
from bot.providers.http import failure_error
from bot.waiting import DEFAULT_SCHEDULE, OnUpdate, PollSchedule, wait_for_task

DEFAULT_DEADLINE = 900.0


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
    provider: Provider,
    request: GenerationRequest,
    *,
    client: httpx.AsyncClient,
    callback_url: str | None = None,
    wake: asyncio.Event | None = None,
    deadline: float = DEFAULT_DEADLINE,
    on_update: OnUpdate | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    schedule: PollSchedule = DEFAULT_SCHEDULE,
) -> GenerationResult:
    """Generate and download.

    Raises RequestValidationError before any request, else a ProviderError (a FAILED task
    becomes TaskFailedError or ContentFilteredError). ``deadline`` bounds submit plus waiting;
    downloads have their own retry budget. ``on_update`` sees every distinct status, from the
    submit answer on.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    request = provider.validate(request)
    status: TaskStatus = await provider.submit(request, callback_url=callback_url)
    if on_update is not None:
        await on_update(status)
    if not status.state.finished:
        status = await wait_for_task(
            provider,
            status.task_id,
            wake=wake,
            deadline=max(deadline - (loop.time() - started), 0.001),
            on_update=_skip_repeat(status, on_update),
            schedule=schedule,
        )
    if status.state is TaskState.FAILED:
        raise failure_error(status, provider=provider.name, display=provider.display_name)
    images = await download_images(client, status.images, max_bytes=max_bytes)
    return GenerationResult(
        images=tuple(images),
        provider=provider.name,
        model=wire_model(provider, request),
        task_id=status.task_id,
        requested=request.count,
    )


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

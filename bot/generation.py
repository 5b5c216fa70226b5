"""The whole generation path in one call: validate → submit → wait → download.

The job engine uses the pieces (``Provider.submit``, ``wait_for_task``, ``download_images``)
with its own bookkeeping in between; the CLI uses ``generate``, and ``check`` uses
``unknown_model_warnings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bot.core.errors import ProviderTimeoutError
from bot.core.request import GenerationRequest, TaskState, TaskStatus
from bot.jobs.waiting import DEFAULT_SCHEDULE, OnUpdate, PollSchedule, wait_for_task
from bot.providers import PROVIDER_TYPES
from bot.providers.adapter import HttpProvider
from bot.providers.base import Provider, ProviderConfig
from bot.providers.downloads import DEFAULT_MAX_BYTES, download_images
from bot.providers.transport import failure_error

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
    """Generate and download, all of it within ``deadline`` seconds.

    Raises RequestValidationError before any request, else a ProviderError (a FAILED task
    becomes TaskFailedError or ContentFilteredError). ``deadline`` bounds the whole call:
    submit (a synchronous provider generates during it), waiting and downloads; past it,
    whatever is in flight is cancelled and ProviderTimeoutError says which step it was.
    ``on_update`` sees every distinct status, from the submit answer on.
    """
    request = provider.validate(request)
    step = _Step(provider, deadline)
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            status: TaskStatus = await provider.submit(request, callback_url=callback_url)
            step.task_id = status.task_id
            if on_update is not None:
                await on_update(status)
            if not status.state.finished:
                step.name = "wait"
                status = await wait_for_task(
                    provider,
                    status.task_id,
                    wake=wake,
                    # the timer above ends the wait; this only has to outlast it
                    deadline=deadline + 1.0,
                    on_update=_skip_repeat(status, on_update),
                    schedule=schedule,
                )
            if status.state is TaskState.FAILED:
                raise failure_error(status, provider=provider.name, display=provider.display_name)
            step.name = "download"
            images = await download_images(client, status.images, max_bytes=max_bytes)
    except TimeoutError:
        if timer.expired():
            raise step.timeout_error() from None
        raise
    return GenerationResult(
        images=tuple(images),
        provider=provider.name,
        model=wire_model(provider, request),
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


def unknown_model_warnings(configs: Sequence[ProviderConfig]) -> list[str]:
    """One line per provider whose configured model is not in its model table.

    Such a model is still sent as configured, but with conservative limits (``generic_spec``:
    one image, one reference), which is rarely what the operator meant.
    """
    warnings: list[str] = []
    for config in configs:
        cls = PROVIDER_TYPES.get(config.name)
        if cls is None or not issubclass(cls, HttpProvider):
            continue
        specs = cls.model_specs
        if any(config.model in (spec.id, spec.edit_id) for spec in specs):
            continue
        known = ", ".join(spec.id for spec in specs)
        warnings.append(
            f"{config.name.upper()}_MODEL: '{config.model}' is not a model known for "
            f"{cls.display_name} (known: {known}); it is sent as is, limited to one image "
            "and one reference image"
        )
    return warnings


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

"""Test doubles shared by the engine, quota, moderation and web tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from bot.core.errors import ProviderError
from bot.core.job import Job, StoredImage
from bot.core.request import (
    CallbackHint,
    GenerationRequest,
    ResultImage,
    TaskError,
    TaskState,
    TaskStatus,
)
from bot.jobs.events import JobEvent
from bot.providers.base import Capabilities, ModelSpec, Provider, ProviderConfig

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class FakeClock:
    """A settable clock returning aware UTC datetimes."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def request(prompt: str = "a red fox in snow", count: int = 1, **extra: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, count=count, **extra)


SPEC = ModelSpec(
    id="fake-1",
    label="Fake 1",
    ratios=("1:1", "16:9"),
    resolutions=("1K", "2K"),
    max_count=4,
    max_refs=4,
)


@dataclass
class Script:
    """What a ``FakeProvider`` does: per-call overrides, else succeed with ``images`` images."""

    submit_errors: list[ProviderError] = field(default_factory=list)
    #: statuses returned by status() in order; then ``hold`` forever if set, else success
    statuses: list[TaskStatus] = field(default_factory=list)
    hold: TaskStatus | None = None
    #: images a finished task delivers: a number, a function of the request, or None (all)
    images: int | Callable[[GenerationRequest], int] | None = None
    #: set to block submit() until released
    submit_gate: asyncio.Event | None = None
    status_gate: asyncio.Event | None = None


class FakeProvider(Provider):
    """An in-memory provider: task-based (with callbacks) or synchronous."""

    name: ClassVar[str] = "fake"
    display_name: ClassVar[str] = "Fake"
    default_base_url: ClassVar[str] = "http://fake.invalid"
    default_model: ClassVar[str] = "fake-1"

    def __init__(
        self,
        *,
        synchronous: bool = False,
        script: Script | None = None,
        spec: ModelSpec = SPEC,
    ) -> None:
        super().__init__(
            config=ProviderConfig(self.name, SecretStr("k"), "http://fake.invalid", "fake-1"),
            client=httpx.AsyncClient(),
        )
        self.synchronous = synchronous
        self.script = script or Script()
        self.spec = spec
        self.submitted: list[tuple[GenerationRequest, str | None]] = []
        self.status_calls = 0
        self._tasks: dict[str, GenerationRequest] = {}
        self.submit_started = asyncio.Event()
        self.status_started = asyncio.Event()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            synchronous=self.synchronous,
            callbacks=not self.synchronous,
            models=(self.spec,),
            default_model=self.spec.id,
        )

    def _result(self, task_id: str, req: GenerationRequest) -> TaskStatus:
        wanted = self.script.images
        count = req.count if wanted is None else wanted(req) if callable(wanted) else wanted
        images = tuple(ResultImage(data=PNG + bytes([i]), size="64x64") for i in range(count))
        return TaskStatus(task_id=task_id, state=TaskState.SUCCEEDED, images=images)

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        self.submitted.append((request, callback_url))
        self.submit_started.set()
        if self.script.submit_gate is not None:
            await self.script.submit_gate.wait()
        if self.script.submit_errors:
            raise self.script.submit_errors.pop(0)
        task_id = f"{self.name}-task-{len(self.submitted)}"
        self._tasks[task_id] = request
        if self.synchronous:
            return self._result(task_id, request)
        return TaskStatus(task_id=task_id, state=TaskState.QUEUED)

    async def status(self, task_id: str) -> TaskStatus:
        self.status_calls += 1
        self.status_started.set()
        if self.script.status_gate is not None:
            await self.script.status_gate.wait()
        status = self.script.statuses.pop(0) if self.script.statuses else self.script.hold
        if status is not None:
            return status.model_copy(update={"task_id": task_id})
        req = self._tasks.get(task_id, request(count=1))
        return self._result(task_id, req)

    def parse_callback(self, body: bytes) -> CallbackHint:
        return CallbackHint.model_validate_json(body)


def fake_provider(name: str = "fake", **kwargs: Any) -> FakeProvider:
    """A ``FakeProvider`` registered under ``name`` (``name`` is a class attribute)."""
    cls = type(f"FakeProvider_{name}", (FakeProvider,), {"name": name, "display_name": name})
    provider: FakeProvider = cls(**kwargs)
    return provider


def running(progress: int | None = None) -> TaskStatus:
    return TaskStatus(task_id="x", state=TaskState.RUNNING, progress=progress)


def failed(code: str = "boom", retryable: bool = False) -> TaskStatus:
    return TaskStatus(
        task_id="x",
        state=TaskState.FAILED,
        error=TaskError(code=code, message="It broke.", retryable=retryable),
    )


class RecordingSink:
    """Keeps every event."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    async def on_event(self, event: JobEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[JobEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class RecordingDeliverer:
    """Posts each image as its own "message" and remembers them; can block or fail."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, int, int]] = []  # (job id, image index, message id)
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.fail_with: Exception | None = None
        self.block_after: int | None = None
        self._next_id = 1000

    async def deliver(
        self,
        job: Job,
        images: Sequence[StoredImage],
        posted: Callable[[int, Sequence[int]], Any],
    ) -> list[int]:
        self.started.set()
        if self.fail_with is not None:
            raise self.fail_with
        ids = []
        for n, image in enumerate(images):
            if self.gate is not None and (self.block_after is None or n >= self.block_after):
                await self.gate.wait()
            self._next_id += 1
            self.posted.append((job.id, image.index, self._next_id))
            await posted(self._next_id, [image.index])
            ids.append(self._next_id)
        return ids

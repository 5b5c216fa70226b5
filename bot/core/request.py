"""The provider-neutral request and status models (PROVIDERS.md section 10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "3:4", "4:3", "16:9", "9:16", "3:2", "2:3", "21:9")


class TaskState(StrEnum):
    """The common lifecycle every provider vocabulary maps onto."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for succeeded and failed."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


class GenerationRequest(BaseModel):
    """What a member asked for, before and after validation against a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    #: the provider's own model id; None means the provider's configured default
    model: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    count: int = 1
    seed: int | None = None
    #: empty for text-to-image; URLs (or data: URIs) of references for an edit
    reference_images: tuple[str, ...] = ()
    watermark: bool = False
    # Issue 15: a storyboard, prompt options, and how the result is shown. Kept in the request
    # (stored as JSON) so every backend keeps them without a schema change.
    #: a storyboard: ``count`` frames of one consistent sequence (Seedream's sequential mode)
    sequential: bool = False
    #: prompt enhancement mode (``standard`` or ``fast``) where the model offers it
    enhance: str | None = None
    #: ``png`` or ``jpeg`` where the model documents ``output_format``
    output_format: str | None = None
    #: the style's name when ``prompt`` was expanded from a style template
    style: str | None = None
    #: what the member typed, when a style expanded it into ``prompt``
    member_prompt: str | None = None
    #: post the images with Discord's spoiler flag
    spoiler: bool = False
    #: options taken from the member's ``/settings`` defaults (shown as "(your default)")
    defaults: tuple[str, ...] = ()
    # Issue 15: image prompts and shapes.
    #: only on models that document it (Seedream 3.0 on Pixazo and Ark), in [1, 10]
    guidance_scale: float | None = None
    #: the references guide a new image (``/imagine image:``, ``/blend``) rather than being
    #: edited: sent to the text-to-image model where it accepts references
    guided: bool = False
    #: the first reference's displayed size: an edit with no ratio or size keeps its shape
    source_size: tuple[int, int] | None = None
    #: the references' formats (``png``, ``jpeg``, ``webp``) where known, in order
    reference_formats: tuple[str, ...] = ()

    @field_validator("prompt", mode="before")
    @classmethod
    def _strip_prompt(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @property
    def is_edit(self) -> bool:
        """An edit (or reference-guided generation) rather than text-to-image."""
        return bool(self.reference_images)

    @property
    def shown_prompt(self) -> str:
        """The prompt as the member wrote it (``prompt`` holds the styled one sent)."""
        return self.member_prompt if self.member_prompt is not None else self.prompt

    @property
    def exact_size(self) -> tuple[int, int] | None:
        """``(width, height)`` when both are given."""
        if self.width is not None and self.height is not None:
            return (self.width, self.height)
        return None


@dataclass(frozen=True)
class TaskKind:
    """What a provider task's duration depends on: who runs it, which model, how big, how many.

    ``resolution`` is the requested resolution (``2K``), an exact size (``2048x1152``) or
    ``default``; ``model`` is the model id sent to the provider.
    """

    provider: str
    model: str
    resolution: str
    count: int


class TaskError(BaseModel):
    """Why a task failed, as the provider put it (already safe to show)."""

    model_config = ConfigDict(frozen=True)

    code: str = "unknown"
    message: str = "The provider reported a failure."
    retryable: bool = False


class ResultImage(BaseModel):
    """One generated image: a URL to fetch at once, or bytes already in hand."""

    model_config = ConfigDict(frozen=True)

    url: str | None = None
    data: bytes | None = None
    size: str | None = None


class TaskStatus(BaseModel):
    """A provider task's state in the common vocabulary."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    state: TaskState
    progress: int | None = Field(default=None, ge=0, le=100)
    images: tuple[ResultImage, ...] = ()
    error: TaskError | None = None


class CallbackHint(BaseModel):
    """What a callback body says. Only a hint: the job confirms through ``status()``."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    state: TaskState | None = None

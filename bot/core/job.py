"""Values that cross the engine's boundary: what callers pass in and what they get back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.core.request import GenerationRequest
from bot.core.states import JobState


class JobKind(StrEnum):
    """What the member asked for."""

    IMAGINE = "imagine"
    EDIT = "edit"
    REROLL = "reroll"


class JobAction(StrEnum):
    """What was done to a parent job's result to make this job (its lineage)."""

    REROLL = "reroll"
    EDIT = "edit"
    VARY_SUBTLE = "vary_subtle"
    VARY_STRONG = "vary_strong"
    UPSCALE = "4k"
    REFERENCE = "reference"
    REMIX = "remix"


class JobOrigin(StrEnum):
    """Which Discord surface started the job (for analytics and replies)."""

    SLASH = "slash"
    REPLY = "reply"
    CONTEXT_MENU = "context_menu"
    BUTTON = "button"


@dataclass(frozen=True, slots=True)
class DoorContext:
    """What the door knew that shapes the job's messages; kept with the job in the ledger."""

    #: the most bytes one upload may carry where the member asked (None: the guild's)
    upload_limit: int | None = None
    #: the message the job's card replies to (the reply door)
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A request to create a job; ``role_ids`` are the member's roles, for role allowances."""

    guild_id: int
    channel_id: int
    user_id: int
    role_ids: Sequence[int]
    kind: JobKind
    origin: JobOrigin
    request: GenerationRequest
    parent_job_id: str | None = None
    door: DoorContext = DoorContext()
    #: lineage: the parent's image this job came from (0-based), and what was done to it
    source_index: int | None = None
    action: JobAction | None = None


@dataclass(frozen=True, slots=True)
class JobImage:
    """One result image of a job: where it came from, where it waits, where it was posted."""

    index: int
    url: str | None = None
    #: file name under ``<db dir>/images/<job id>/`` while it waits to be posted
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    #: the Discord message that posted it (when the deliverer reported one)
    message_id: int | None = None
    #: set once posted: a restart never posts it again
    delivered_at: datetime | None = None

    @property
    def delivered(self) -> bool:
        """True once the image was posted."""
        return self.delivered_at is not None


@dataclass(frozen=True)
class StoredImage:
    """An image ready to post: its bytes, a file name and MIME type for the attachment."""

    index: int
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the ledger (with its images and result messages)."""

    id: str
    guild_id: int
    channel_id: int
    user_id: int
    kind: JobKind
    origin: JobOrigin
    request: GenerationRequest
    state: JobState
    quota_day: date
    reserved_daily: int
    reserved_bonus: int
    created_at: datetime
    updated_at: datetime
    parent_job_id: str | None = None
    provider: str | None = None
    task_id: str | None = None
    tried_providers: tuple[str, ...] = ()
    progress: int | None = None
    #: images charged once settled (None while the reservation is open)
    charged: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    card_message_id: int | None = None
    result_message_ids: tuple[int, ...] = ()
    images: tuple[JobImage, ...] = ()
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    #: sha256 of the current callback secret (not secret itself; never shown)
    callback_key: str | None = field(default=None, repr=False)
    door: DoorContext = DoorContext()
    #: lineage: the parent's image this job came from (0-based), and what was done to it
    source_index: int | None = None
    action: JobAction | None = None

    @property
    def cost_reserved(self) -> int:
        """Images reserved when the job was created."""
        return self.reserved_daily + self.reserved_bonus

    @property
    def refunded(self) -> int | None:
        """Images given back once settled (None while the reservation is open)."""
        return None if self.charged is None else self.cost_reserved - self.charged

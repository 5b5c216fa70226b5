"""How finished images leave the engine: the ``Deliverer`` the Discord layer implements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Protocol, TypeAlias

from bot.core.errors import SeedreamError
from bot.core.job import Job, StoredImage
from bot.core.localizable import N_

#: ``await posted(message_id, image_indexes)`` after each message that carried images
PostedCallback: TypeAlias = Callable[[int, Sequence[int]], Awaitable[None]]


class DeliveryError(SeedreamError):
    """The images could not be posted.

    ``retryable``: a transient failure (network error or timeout, rate limit, Discord 5xx)
    worth another try; otherwise
    the channel is unusable (deleted, no permission) and the job fails with a refund for
    every image not yet posted.
    """

    code: ClassVar[str] = "delivery"

    user_message = N_("The images could not be posted in that channel.")

    def __init__(self, message: str | None = None, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class Deliverer(Protocol):
    """Posts a job's images where the member asked for them."""

    async def deliver(
        self, job: Job, images: Sequence[StoredImage], posted: PostedCallback
    ) -> list[int]:
        """Post ``images`` (only those not yet posted: after a restart, the rest).

        Call ``posted(message_id, [image.index, ...])`` after each message goes out, so a
        restart in the middle never posts the same image twice; return every message id.
        Raise ``DeliveryError`` when the channel can't be used.
        """
        ...


class NullDeliverer:
    """Posts nothing and reports success (CLI and tests)."""

    async def deliver(
        self, job: Job, images: Sequence[StoredImage], posted: PostedCallback
    ) -> list[int]:
        """Pretend the images were posted."""
        return []

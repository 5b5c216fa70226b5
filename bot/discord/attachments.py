"""Reference images for edits, taken only from Discord itself and checked before any charge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import PurePosixPath

import discord

from bot.core.errors import ImageError, RequestValidationError
from bot.core.localizable import N_
from bot.images.validate import DECODE_BUDGET, ImageInfo, decode_cost, inspect_image_async

#: providers take at most 10 MB per reference image (Ark, KIE/Apikley)
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
#: image checks running at once, bot-wide (each also holds its decode cost of the budget)
DECODE_SLOTS = 2
#: files of one request downloaded (and so held in memory) at once
DOWNLOADS_PER_REQUEST = 2


def looks_like_image(attachment: discord.Attachment) -> bool:
    """An attachment Discord (or its file name) says is an image of any kind."""
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type:
        return content_type.startswith("image/")
    return PurePosixPath(attachment.filename.lower()).suffix in IMAGE_SUFFIXES | {".gif", ".bmp"}


def message_images(message: discord.Message) -> list[discord.Attachment]:
    """The image attachments of a message (uploads and bot results alike)."""
    return [attachment for attachment in message.attachments if looks_like_image(attachment)]


class DecodeLimiter:
    """Bot-wide: at most ``slots`` image checks at once, their working memory within ``budget``.

    Each check holds its :func:`~bot.images.validate.decode_cost`; waiters re-check when one ends.
    """

    def __init__(self, *, slots: int = DECODE_SLOTS, budget: int = DECODE_BUDGET) -> None:
        self.slots = slots
        self.budget = budget
        self.running = 0
        self.reserved = 0
        self._waiters: list[asyncio.Future[None]] = []

    def _fits(self, cost: int) -> bool:
        # A lone check always runs: decode_cost already refused anything above the budget.
        return self.running < self.slots and (
            self.running == 0 or self.reserved + cost <= self.budget
        )

    @contextlib.asynccontextmanager
    async def hold(self, cost: int) -> AsyncIterator[None]:
        """Wait for a slot and ``cost`` bytes of the budget; give both back on exit."""
        while not self._fits(cost):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.running += 1
        self.reserved += cost
        try:
            yield
        finally:
            self.running -= 1
            self.reserved -= cost
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)


class ReferenceChecker:
    """Downloads and checks reference images, sharing one :class:`DecodeLimiter` bot-wide."""

    def __init__(self, limiter: DecodeLimiter | None = None) -> None:
        self.limiter = limiter or DecodeLimiter()

    async def check(
        self, attachments: Sequence[discord.Attachment], *, max_refs: int | None = None
    ) -> tuple[str, ...]:
        """Check every attachment is a usable PNG/JPEG/WebP within the size limits.

        Each is downloaded through the bot's own session (``Attachment.read``, no CDN host
        assumed), at most :data:`DOWNLOADS_PER_REQUEST` of one request at a time, and checked
        off the event loop within the limiter. Returns the attachment URLs in order, which
        the provider adapters fetch or inline as they need. Raises a user-safe error naming
        the file; the first error stops the others.
        """
        await self.inspect(attachments, max_refs=max_refs)
        return tuple(attachment.url for attachment in attachments)

    async def inspect(
        self, attachments: Sequence[discord.Attachment], *, max_refs: int | None = None
    ) -> tuple[ImageInfo, ...]:
        """:meth:`check`, returning what each image is (format, displayed size) in order."""
        check_reference_metadata(attachments, max_refs=max_refs)
        downloads = asyncio.Semaphore(DOWNLOADS_PER_REQUEST)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._check_one(attachment, downloads))
                    for attachment in attachments
                ]
        except ExceptionGroup as errors:
            raise errors.exceptions[0] from None
        return tuple(task.result() for task in tasks)

    async def _check_one(
        self, attachment: discord.Attachment, downloads: asyncio.Semaphore
    ) -> ImageInfo:
        name = f"`{discord.utils.escape_markdown(attachment.filename)}`"
        async with downloads:  # so one request holds at most this many files' bytes
            try:
                data = await attachment.read()
            except (discord.HTTPException, discord.NotFound) as exc:
                raise ImageError(
                    N_("{name} could not be downloaded from Discord."), name=name
                ) from exc
            if len(data) > MAX_REFERENCE_BYTES:
                raise ImageError(
                    N_("{name} is larger than {most} MB."),
                    name=name,
                    most=MAX_REFERENCE_BYTES // 2**20,
                )
            # off the loop too: a JPEG's header walk can be long in a hostile file
            cost = await asyncio.to_thread(decode_cost, data, label=name)
            async with self.limiter.hold(cost):
                return await inspect_image_async(data, label=name)


def check_reference_metadata(
    attachments: Sequence[discord.Attachment], *, max_refs: int | None = None
) -> None:
    """What Discord already says about the attachments: count, size, type. Fetches nothing."""
    if not attachments:
        raise RequestValidationError("image", N_("attach at least one PNG, JPEG or WebP image."))
    if max_refs == 0:
        raise RequestValidationError("image", N_("this model takes no reference images."))
    if max_refs is not None and len(attachments) > max_refs:
        raise RequestValidationError(
            "image",
            N_("{count} images given; this model takes at most {most}."),
            count=len(attachments),
            most=max_refs,
        )
    for attachment in attachments:
        _check_metadata(attachment)


def _check_metadata(attachment: discord.Attachment) -> None:
    name = f"`{discord.utils.escape_markdown(attachment.filename)}`"
    if attachment.size == 0:
        raise ImageError(N_("{name} is empty."), name=name)
    if attachment.size > MAX_REFERENCE_BYTES:
        raise ImageError(
            N_("{name} is {size} MB; images for editing must be at most {most} MB."),
            name=name,
            size=round(attachment.size / 2**20, 1),
            most=MAX_REFERENCE_BYTES // 2**20,
        )
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type and content_type not in IMAGE_TYPES:
        raise ImageError(N_("{name} is not a PNG, JPEG or WebP image."), name=name)

"""Reference images for edits, taken only from Discord itself and checked before any charge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import PurePosixPath

import discord

from bot.errors import ImageError, RequestValidationError
from bot.images import inspect_image_async

#: providers take at most 10 MB per reference image (Ark, KIE/Apikley)
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def looks_like_image(attachment: discord.Attachment) -> bool:
    """An attachment Discord (or its file name) says is an image of any kind."""
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type:
        return content_type.startswith("image/")
    return PurePosixPath(attachment.filename.lower()).suffix in IMAGE_SUFFIXES | {".gif", ".bmp"}


def message_images(message: discord.Message) -> list[discord.Attachment]:
    """The image attachments of a message (uploads and bot results alike)."""
    return [attachment for attachment in message.attachments if looks_like_image(attachment)]


async def check_references(
    attachments: Sequence[discord.Attachment], *, max_refs: int | None = None
) -> tuple[str, ...]:
    """Check every attachment is a usable PNG/JPEG/WebP within the size limit.

    Each is downloaded through the bot's own session (``Attachment.read``, no CDN host
    assumed) and decoded off the event loop. Returns the attachment URLs in order, which
    the provider adapters fetch or inline as they need. Raises a user-safe error naming
    the file.
    """
    if not attachments:
        raise RequestValidationError("image", "attach at least one PNG, JPEG or WebP image.")
    if max_refs is not None and len(attachments) > max_refs:
        raise RequestValidationError(
            "image", f"{len(attachments)} images given; this model takes at most {max_refs}."
        )
    for attachment in attachments:
        _check_metadata(attachment)
    await asyncio.gather(*(_check_content(attachment) for attachment in attachments))
    return tuple(attachment.url for attachment in attachments)


def _check_metadata(attachment: discord.Attachment) -> None:
    name = f"`{discord.utils.escape_markdown(attachment.filename)}`"
    if attachment.size == 0:
        raise ImageError(f"{name} is empty.")
    if attachment.size > MAX_REFERENCE_BYTES:
        raise ImageError(
            f"{name} is {attachment.size / 2**20:.1f} MB; images for editing must be at most "
            f"{MAX_REFERENCE_BYTES // 2**20} MB."
        )
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    if content_type and content_type not in IMAGE_TYPES:
        raise ImageError(f"{name} is not a PNG, JPEG or WebP image.")


async def _check_content(attachment: discord.Attachment) -> None:
    name = f"`{discord.utils.escape_markdown(attachment.filename)}`"
    try:
        data = await attachment.read()
    except (discord.HTTPException, discord.NotFound) as exc:
        raise ImageError(f"{name} could not be downloaded from Discord.") from exc
    if len(data) > MAX_REFERENCE_BYTES:
        raise ImageError(f"{name} is larger than {MAX_REFERENCE_BYTES // 2**20} MB.")
    await inspect_image_async(data, label=name)

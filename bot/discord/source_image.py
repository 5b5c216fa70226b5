"""The image a member picked under a result, read fresh from the message that posted it.

The ledger knows which message posted each image (``JobImage.message_id``) but keeps no
URL worth reusing: Discord's attachment URLs are signed and expire after about a day, and
a provider's result URL sooner. Fetching the message now gives a URL that works now.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import discord

from bot.core.errors import SeedreamError
from bot.core.job import Job
from bot.core.localizable import N_
from bot.discord.attachments import message_images

log = logging.getLogger(__name__)


class SourceImageGoneError(SeedreamError):
    """The message that carried the picked image was deleted (or can no longer be read)."""

    code: ClassVar[str] = "source_image_gone"
    user_message = N_(
        "That image is gone (its message was deleted), so it can't be used any more. "
        "Nothing was charged."
    )


async def source_image(client: discord.Client, job: Job, index: int) -> discord.Attachment:
    """Image ``index`` of ``job`` as its message carries it now.

    A message carries its images in index order, so the image is the attachment at its rank
    among the job's images posted in that message.
    """
    image = next((image for image in job.images if image.index == index), None)
    if image is None or image.message_id is None:
        raise SourceImageGoneError()
    siblings = sorted(i.index for i in job.images if i.message_id == image.message_id)
    channel = client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    try:
        message = await channel.fetch_message(image.message_id)
    except (discord.NotFound, discord.Forbidden) as exc:
        log.info("Job %s: image %d's message is unreadable (%s)", job.id, index, exc.status)
        raise SourceImageGoneError() from exc
    images = message_images(message)
    position = siblings.index(index)
    if position >= len(images):
        raise SourceImageGoneError()
    return images[position]

"""Reference images of an earlier edit, read again from their messages once their URLs expired.

Discord's attachment URLs are signed and stop working after about a day (the CDN answers
404 or 403). The attachment itself lives as long as its message, and the URL says where:
``…/attachments/<channel id>/<attachment id>/<name>``. An attachment id is a snowflake made
when the file was uploaded, so the message that carries it is found in the channel's history
around that id, and that message, fetched now, carries a fresh URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import discord
import httpx

from bot.core.errors import SeedreamError
from bot.core.localizable import N_

log = logging.getLogger(__name__)

#: the channel and attachment ids in a CDN URL (message attachments, not interaction uploads)
ATTACHMENT_PATH = re.compile(r"/attachments/(\d+)/(\d+)/")
#: messages read around each attachment id (one request; Discord's maximum is 100)
HISTORY_AROUND = 100
PROBE_TIMEOUT = 10.0


class ReferencesGoneError(SeedreamError):
    """The reference images of an earlier job can no longer be read."""

    code: ClassVar[str] = "references_gone"
    user_message = N_("The original images are gone; reply to them again. Nothing was charged.")


@dataclass(frozen=True)
class Refreshed:
    """The references to use now: every URL in order, and the attachments read again."""

    urls: tuple[str, ...]
    attachments: tuple[discord.Attachment, ...]


async def readable(http: httpx.AsyncClient, url: str) -> bool:
    """Whether the URL still serves a file (only the status line is read)."""
    try:
        async with http.stream("GET", url, timeout=PROBE_TIMEOUT) as response:
            return response.is_success
    except httpx.HTTPError as exc:
        log.info("reference image unreachable (%s)", type(exc).__name__)
        return False


def attachment_location(url: str) -> tuple[int, int] | None:
    """``(channel id, attachment id)`` of a Discord attachment URL, or None."""
    match = ATTACHMENT_PATH.search(httpx.URL(url).path)
    if match is None or "/ephemeral-attachments/" in url:
        return None  # an upload to a slash command lives in no message
    return int(match.group(1)), int(match.group(2))


async def refresh_references(
    client: discord.Client,
    http: httpx.AsyncClient,
    guild_id: int,
    urls: Sequence[str],
) -> Refreshed:
    """The references of an earlier job as they can be read now.

    URLs that still work are kept; each expired one is replaced by the fresh URL of the
    same attachment, read from its message. ``ReferencesGoneError`` when any image cannot
    be found (its message was deleted, or it was a slash-command upload).
    """
    kept: dict[int, str] = {}
    wanted: dict[int, tuple[int, int]] = {}
    for position, url in enumerate(urls):
        if await readable(http, url):
            kept[position] = url
            continue
        location = attachment_location(url)
        if location is None:
            raise ReferencesGoneError()
        wanted[position] = location
    if not wanted:
        return Refreshed(tuple(urls), ())
    found = await _find_attachments(client, guild_id, set(wanted.values()))
    fresh: list[discord.Attachment] = []
    result: list[str] = []
    for position in range(len(urls)):
        if position in kept:
            result.append(kept[position])
            continue
        attachment = found.get(wanted[position][1])
        if attachment is None:
            raise ReferencesGoneError()
        fresh.append(attachment)
        result.append(attachment.url)
    log.info("re-read %d expired reference image(s) from their messages", len(fresh))
    return Refreshed(tuple(result), tuple(fresh))


async def _find_attachments(
    client: discord.Client, guild_id: int, locations: set[tuple[int, int]]
) -> dict[int, discord.Attachment]:
    """Attachment id -> the attachment as its message carries it now."""
    found: dict[int, discord.Attachment] = {}
    for channel_id, attachment_id in sorted(locations):
        if attachment_id in found:
            continue  # read with a neighbour
        channel = client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            async for message in channel.history(
                limit=HISTORY_AROUND, around=discord.Object(attachment_id)
            ):
                for attachment in message.attachments:
                    found.setdefault(attachment.id, attachment)
        except discord.HTTPException as exc:
            log.info("could not read the history of channel %s (%s)", channel_id, exc.status)
    return found

"""Private results: a job whose card and images go to the member's direct messages."""

from __future__ import annotations

import dataclasses
import logging

import discord

from bot.core.errors import PermissionDeniedError, SeedreamError
from bot.core.job import DoorContext
from bot.core.localizable import N_
from bot.i18n.texts import Texts

log = logging.getLogger(__name__)

DMS_CLOSED = N_(
    "I can't send you direct messages, so I can't deliver a private result. Allow direct "
    "messages from this server's members (Privacy Settings), or ask again without `private`. "
    "Nothing was charged."
)


async def open_dm(
    member: discord.Member, texts: Texts, *, storyboard: bool = False
) -> discord.DMChannel:
    """The member's DM channel, proven open by a first note there; a refusal otherwise.

    Sending is the only way to learn that DMs are closed, so this runs after the cheap
    checks and before any quota is reserved or any provider is called.
    """
    try:
        channel = await member.create_dm()
        server = discord.utils.escape_markdown(member.guild.name)
        opening = (
            texts._(
                "🔒 Your private storyboard from **{server}**: "
                "its card and images will appear here.",
                server=server,
            )
            if storyboard
            else texts._(
                "🔒 Your private job from **{server}**: its card and images will appear here.",
                server=server,
            )
        )
        await channel.send(opening)
    except discord.Forbidden as exc:
        log.info("Private job refused: cannot DM the member (code %s)", exc.code)
        raise PermissionDeniedError(DMS_CLOSED) from None
    except discord.HTTPException as exc:
        log.info("Private job refused: DM failed (%s)", exc.status)
        raise SeedreamError(
            N_("Discord didn't let me message you just now; try again. Nothing was charged.")
        ) from None
    return channel


def dm_context(context: DoorContext) -> DoorContext:
    """The door's context for a DM: the default upload limit, no message to reply to."""
    return dataclasses.replace(
        context, upload_limit=discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES, reply_to=None
    )

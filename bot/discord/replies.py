"""The one path by which any error or note reaches a member: commands, buttons, modals, menus.

``send_to_member`` answers the interaction while Discord still takes it (the response, then a
followup), and once the token is gone (15 minutes, or an interaction Discord no longer
knows) posts in the channel mentioning the member instead, like Red's
``_send_from_interaction``: a slow job's error is never silently lost.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.core.clock import format_reset
from bot.core.errors import QuotaExceededError, SeedreamError

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on our side; nothing was charged. Please try again."

#: Discord's codes for a token or interaction it no longer accepts
_UNKNOWN_WEBHOOK = 10015
_UNKNOWN_INTERACTION = 10062
_EXPIRED = {_UNKNOWN_WEBHOOK, _UNKNOWN_INTERACTION}

#: where Discord's client calls a permission something else than its API name
_PERMISSION_LABELS = {"manage_guild": "Manage Server", "view_channel": "View Channels"}


def permission_names(permissions: list[str]) -> str:
    """Permission names as Discord's client shows them."""
    return ", ".join(
        _PERMISSION_LABELS.get(name, name.replace("_", " ").title()) for name in permissions
    )


def user_message_for(error: BaseException) -> str | None:
    """The user-safe text for an error, or None when it was unexpected."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if not isinstance(original, SeedreamError) and isinstance(original.__cause__, SeedreamError):
        original = original.__cause__
    if isinstance(original, QuotaExceededError) and original.reset_at is not None:
        # Discord renders the reset time in each reader's own time zone.
        reset = original.reset_at
        local = f"{discord.utils.format_dt(reset, 't')} ({discord.utils.format_dt(reset, 'R')})"
        return original.user_message.replace(format_reset(reset), local)
    if isinstance(original, SeedreamError):
        return original.user_message
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid value here."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {permission_names(error.missing_permissions)} permission to use this."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need the {permission_names(error.missing_permissions)} permission here."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use this command here."
    return None


async def report_error(
    interaction: discord.Interaction[Any], error: BaseException, *, where: str
) -> None:
    """Tell the member what went wrong; log (with the traceback) only what was unexpected."""
    message = user_message_for(error)
    if message is None:
        log.error("Unexpected error in %s (interaction %s)", where, interaction.id, exc_info=error)
        message = UNEXPECTED
    await send_to_member(interaction, message)


async def send_to_member(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer privately while the interaction lives; after that, in the channel with a mention."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        if not interaction.is_expired():
            await interaction.followup.send(text, ephemeral=True)
            return
    except discord.NotFound as exc:
        if exc.code not in _EXPIRED:
            log.warning("Could not tell the member (interaction %s): %s", interaction.id, exc.code)
            return
    except discord.HTTPException as exc:
        log.warning("Could not tell the member (interaction %s): %s", interaction.id, exc.status)
        return
    await _in_channel(interaction, text)


async def _in_channel(interaction: discord.Interaction[Any], text: str) -> None:
    """The token is gone: say it in the channel, mentioning (only) the member."""
    if interaction.channel_id is None:
        return
    channel = interaction.client.get_partial_messageable(
        interaction.channel_id, guild_id=interaction.guild_id
    )
    member = interaction.user
    try:
        await channel.send(
            f"{member.mention} {text}",
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[member], replied_user=False
            ),
        )
    except discord.HTTPException as exc:
        log.warning(
            "Could not tell the member in channel %s (interaction %s): %s",
            interaction.channel_id,
            interaction.id,
            exc.status,
        )


async def reply_to_message(message: discord.Message, text: str) -> None:
    """The message door's answer: a reply that does not ping its author."""
    try:
        await message.reply(text, mention_author=False)
    except discord.HTTPException:
        log.info("Could not answer message %s", message.id)

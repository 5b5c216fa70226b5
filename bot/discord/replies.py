"""The one path by which any error or note reaches a member: commands, buttons, modals, menus.

``send_to_member`` answers the interaction while Discord still takes it (the response, then a
followup), and once the token is gone (15 minutes, or an interaction Discord no longer
knows) posts in the channel mentioning the member instead, like Red's
``_send_from_interaction``: a slow job's error is never silently lost.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import discord
from discord import app_commands

from bot.core.errors import (
    PermissionDeniedError,
    QuotaExceededError,
    RequestValidationError,
    SeedreamError,
)
from bot.core.localizable import N_
from bot.discord.languages import member_texts
from bot.i18n.catalogs import ENGLISH
from bot.i18n.texts import Texts

log = logging.getLogger(__name__)

UNEXPECTED = N_("Something went wrong on our side; nothing was charged. Please try again.")

#: Discord's codes for a token or interaction it no longer accepts
_UNKNOWN_WEBHOOK = 10015
_UNKNOWN_INTERACTION = 10062
_EXPIRED = {_UNKNOWN_WEBHOOK, _UNKNOWN_INTERACTION}

#: permission names as Discord's client shows them (it translates them itself, these are ours)
_PERMISSION_LABELS = {
    "manage_guild": N_("Manage Server"),
    "view_channel": N_("View Channels"),
    "send_messages": N_("Send Messages"),
    "send_messages_in_threads": N_("Send Messages in Threads"),
    "embed_links": N_("Embed Links"),
    "attach_files": N_("Attach Files"),
    "read_message_history": N_("Read Message History"),
}


def permission_names(permissions: list[str], texts: Texts = ENGLISH.default) -> str:
    """Permission names as Discord's client shows them."""
    return ", ".join(
        texts._(_PERMISSION_LABELS[name])
        if name in _PERMISSION_LABELS
        else name.replace("_", " ").title()
        for name in permissions
    )


class PostPermissionsError(PermissionDeniedError):
    """The bot or the member lacks permissions to post here; ``{permissions}`` names them."""

    code: ClassVar[str] = "post_permissions"

    def __init__(self, message: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(message, permissions=permission_names(missing))


def error_text(error: SeedreamError, texts: Texts) -> str:
    """A domain error's message in the reader's language, from its template and params."""
    if isinstance(error, RequestValidationError):
        problem = texts._(error.problem, **error.problem_params)
        text = texts._("`{field}`: {problem}", field=error.field, problem=problem)
        if error.note:
            text += " " + texts._(error.note)
        if error.allowed:
            text += " " + texts._("Allowed: {values}.", values=", ".join(error.allowed))
        return text
    params = dict(error.params)
    if isinstance(error, PostPermissionsError):
        params["permissions"] = permission_names(error.missing, texts)
    if isinstance(error, QuotaExceededError) and error.reset_at is not None:
        # Discord renders the reset time in each reader's own time zone.
        reset = error.reset_at
        params["reset"] = (
            f"{discord.utils.format_dt(reset, 't')} ({discord.utils.format_dt(reset, 'R')})"
        )
    if not texts.translates(error.template):
        # wording the catalog lacks (a provider's own words, a string not yet translated):
        # the error kind's general message, in the reader's language
        return texts._(type(error).user_message)
    return texts._(error.template, **params)


def user_message_for(error: BaseException, texts: Texts = ENGLISH.default) -> str | None:
    """The user-safe text for an error, or None when it was unexpected."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if not isinstance(original, SeedreamError) and isinstance(original.__cause__, SeedreamError):
        original = original.__cause__
    if isinstance(original, SeedreamError):
        return error_text(original, texts)
    if isinstance(error, app_commands.TransformerError):
        return texts._("`{value}` is not a valid value here.", value=str(error.value))
    if isinstance(error, app_commands.NoPrivateMessage):
        return texts._("This command only works in a server.")
    if isinstance(error, app_commands.MissingPermissions):
        return texts._(
            "You need the {permissions} permission to use this.",
            permissions=permission_names(error.missing_permissions, texts),
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return texts._(
            "I need the {permissions} permission here.",
            permissions=permission_names(error.missing_permissions, texts),
        )
    if isinstance(error, app_commands.CommandOnCooldown):
        return texts._("Slow down: try again in {seconds} s.", seconds=round(error.retry_after))
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or texts._("You can't use this command here.")
    return None


async def report_error(
    interaction: discord.Interaction[Any], error: BaseException, *, where: str
) -> None:
    """Tell the member what went wrong, in their language; log only what was unexpected."""
    texts = member_texts(interaction)
    message = user_message_for(error, texts)
    if message is None:
        log.error("Unexpected error in %s (interaction %s)", where, interaction.id, exc_info=error)
        message = texts._(UNEXPECTED)
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

"""The command tree: one error policy for every app command, and the operator's server gate."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.core.clock import format_reset
from bot.core.errors import QuotaExceededError, SeedreamError

if TYPE_CHECKING:
    from bot.app import SeedreamBot

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on our side; nothing was charged. Please try again."
SERVER_NOT_ALLOWED = (
    "This bot is not enabled in this server, so it can't do anything here. Nothing was charged."
)


class SeedreamTree(app_commands.CommandTree["SeedreamBot"]):
    """Turns every error into a short ephemeral message; never shows a traceback."""

    async def interaction_check(self, interaction: discord.Interaction[SeedreamBot], /) -> bool:
        """Before every slash command, context menu and autocomplete: the server gate."""
        return await server_gate(interaction)

    async def on_error(
        self,
        interaction: discord.Interaction[SeedreamBot],
        error: app_commands.AppCommandError,
    ) -> None:
        """Reply ephemerally with what went wrong, log what was unexpected."""
        message = user_message_for(error)
        if message is None:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "Unexpected error in /%s (interaction %s)",
                command,
                interaction.id,
                exc_info=error,
            )
            message = UNEXPECTED
        await send_ephemeral(interaction, message)


async def server_gate(interaction: discord.Interaction[Any]) -> bool:
    """True when the interaction's server is on the operator's allow-list.

    Otherwise refuse it (ephemerally; autocomplete gets no choices) before any work, and
    return False. Buttons and modals call this from their own ``interaction_check``: discord.py
    routes them past the tree.
    """
    if interaction.client.guild_allowed(interaction.guild_id):
        return True
    log.info(
        "Refused an interaction from server %s: it is not in ALLOWED_GUILD_IDS",
        interaction.guild_id,
    )
    if interaction.type is discord.InteractionType.autocomplete:
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.autocomplete([])
    else:
        await send_ephemeral(interaction, SERVER_NOT_ALLOWED)
    return False


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


#: where Discord's client calls a permission something else than its API name
_PERMISSION_LABELS = {"manage_guild": "Manage Server", "view_channel": "View Channels"}


def permission_names(permissions: list[str]) -> str:
    """Permission names as Discord's client shows them."""
    return ", ".join(
        _PERMISSION_LABELS.get(name, name.replace("_", " ").title()) for name in permissions
    )


async def send_ephemeral(interaction: discord.Interaction[SeedreamBot], message: str) -> None:
    """Answer or follow up, whichever the interaction still allows."""
    try:
        if interaction.response.is_done():
            if not interaction.is_expired():
                await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("Could not tell the user about an error (interaction %s)", interaction.id)

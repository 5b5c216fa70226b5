"""The command tree: the operator's server gate and the one error policy for app commands."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.discord.checks import server_gate
from bot.discord.replies import report_error


class SeedreamTree(app_commands.CommandTree[Any]):
    """Turns every error into a short message to the member; never shows a traceback."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Before every slash command, context menu and autocomplete: the server gate."""
        return await server_gate(interaction)

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: app_commands.AppCommandError,
    ) -> None:
        """Tell the member what went wrong (``bot.discord.replies``), log what was unexpected."""
        command = interaction.command.qualified_name if interaction.command else "?"
        await report_error(interaction, error, where=f"/{command}")

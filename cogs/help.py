"""``/help``: the commands a member can use here (and a moderator's), with their quota today.

The list is read from the command tree, so a new command shows up without touching this
module; names and descriptions come from the same catalog the client shows them from.
"""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from bot.discord import help_render
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.checks import is_moderator
from bot.discord.help_render import CommandHelp
from bot.discord.languages import member_texts
from cogs._doors import slash_door


class Help(commands.Cog):
    """What the member can do here."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What you can do here, and what you have left")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def help(self, interaction: Interaction) -> None:
        """Answer ephemerally, in the member's language."""
        member = slash_door(interaction).member
        status = await self.bot.quotas.status(
            member.guild.id, member.id, [role.id for role in member.roles]
        )
        listed, menus = tree_help(self.bot.tree)
        embed = help_render.help_embed(
            listed,
            menus,
            status,
            member_texts(interaction),
            moderator=is_moderator(interaction.permissions),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


def tree_help(tree: app_commands.CommandTree[SeedreamBot]) -> tuple[list[CommandHelp], list[str]]:
    """Every slash command and subcommand, and the message menus, as the tree holds them."""
    found: list[CommandHelp] = []
    menus: list[str] = []
    for command in tree.get_commands():
        if isinstance(command, app_commands.ContextMenu):
            menus.append(command.name)
            continue
        moderator = command.default_permissions is not None
        leaves = command.walk_commands() if isinstance(command, app_commands.Group) else [command]
        for leaf in leaves:
            if isinstance(leaf, app_commands.Command):
                path = tuple(leaf.qualified_name.split())
                found.append(CommandHelp(path, leaf.description, moderator))
    return sorted(found, key=lambda c: (c.moderator, c.path)), sorted(menus)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Help(bot))

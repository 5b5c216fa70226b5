"""``/style``: named prompt templates; moderators add and remove this server's own."""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from bot.core.asked import TEMPLATE_MAX
from bot.discord import checks
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.languages import member_texts
from bot.discord.render import styles_embed
from cogs._doors import choices


@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class Style(
    commands.GroupCog,
    group_name="style",
    group_description="Named prompt styles for /imagine style:",
):
    """The ``/style`` group: ``list`` for everyone, ``add`` and ``remove`` for moderators."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="add", description="Moderators: add or replace a server style")
    @app_commands.describe(
        name="Short name: letters, digits, - and _",
        template="The prompt sent, with {prompt} where the member's prompt goes",
    )
    async def add(
        self,
        interaction: Interaction,
        name: app_commands.Range[str, 1, 32],
        template: app_commands.Range[str, 1, TEMPLATE_MAX + 100],
    ) -> None:
        """Checked (``{prompt}``, length) before anything is stored."""
        guild_id = checks.require_moderator(interaction)
        key, replaced = await self.bot.desk.preferences.add_style(
            guild_id, name, template, interaction.user.id
        )
        texts = member_texts(interaction)
        usage = "`/{command} {option}:{key}`".format(
            command=texts.pgettext("command name", "imagine"),
            option=texts.pgettext("option name", "style"),
            key=key,
        )
        text = (
            texts._(
                "Style **{name}** replaced. Members can use it with {usage}.", name=key, usage=usage
            )
            if replaced
            else texts._(
                "Style **{name}** added. Members can use it with {usage}.", name=key, usage=usage
            )
        )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="remove", description="Moderators: remove a server style")
    @app_commands.describe(name="One of this server's styles")
    async def remove(self, interaction: Interaction, name: app_commands.Range[str, 1, 32]) -> None:
        """Members who chose it as their default are told when they next use it."""
        guild_id = checks.require_moderator(interaction)
        removed = await self.bot.desk.preferences.remove_style(guild_id, name)
        texts = member_texts(interaction)
        text = (
            texts._("Style **{name}** removed.", name=name.strip().lower())
            if removed
            else texts._(
                "This server has no style `{name}` (the bot's own styles can't be removed).",
                name=name[:32],
            )
        )
        await interaction.response.send_message(text, ephemeral=True)

    @remove.autocomplete("name")
    async def _server_styles(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not checks.moderator_here(interaction) or interaction.guild_id is None:
            return []
        return choices(await self.bot.desk.preferences.server_styles(interaction.guild_id), current)

    @app_commands.command(name="list", description="Show the styles you can use here")
    async def list_(self, interaction: Interaction) -> None:
        """This server's styles and the bot's, with their templates."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        preferences = self.bot.desk.preferences
        server = await preferences.server_styles(interaction.guild_id)
        operator = {k: v for k, v in preferences.operator_styles.items() if k not in server}
        await interaction.response.send_message(
            embed=styles_embed(server, operator, member_texts(interaction)), ephemeral=True
        )


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Style(bot))

"""``/settings``: a member's own defaults for their requests in this server."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.asked import MemberDefaults
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.languages import member_texts
from bot.discord.render import defaults_embed
from cogs._doors import choices, style_choices


class Settings(commands.Cog):
    """Members' defaults."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="Your own defaults for your requests here")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        model="Default model",
        ratio="Default aspect ratio",
        resolution="Default resolution tier",
        count="Default number of images",
        style="Default style",
        private="Send your results to your DMs by default",
        spoiler="Post your images behind a spoiler by default",
        reset="Forget all your defaults here",
    )
    async def settings(
        self,
        interaction: Interaction,
        model: str | None = None,
        ratio: str | None = None,
        resolution: str | None = None,
        count: app_commands.Range[int, 1, 15] | None = None,
        style: app_commands.Range[str, 1, 40] | None = None,
        private: bool | None = None,
        spoiler: bool | None = None,
        reset: bool = False,
    ) -> None:
        """No option: show them; options: change those; ``reset:true``: clear them."""
        member = interaction.user
        if interaction.guild_id is None or not isinstance(member, discord.Member):
            raise app_commands.NoPrivateMessage()
        guild_id, desk = interaction.guild_id, self.bot.desk
        texts = member_texts(interaction)
        changes = {
            "model": model,
            "ratio": ratio,
            "resolution": resolution,
            "count": count,
            "style": style,
            "private": private,
            "spoiler": spoiler,
        }
        given = {k: v for k, v in changes.items() if v is not None}
        if reset:
            if given:
                await interaction.response.send_message(
                    texts._(
                        "Give `{option}:true` alone: it clears every default. Nothing was changed.",
                        option=texts.pgettext("option name", "reset"),
                    ),
                    ephemeral=True,
                )
                return
            had = await desk.preferences.reset(guild_id, member.id)
            note = (
                texts._("Your defaults here are cleared.")
                if had
                else texts._("You had no defaults here.")
            )
            await interaction.response.send_message(
                embed=defaults_embed(MemberDefaults(), note, texts), ephemeral=True
            )
            return
        current = await desk.preferences.defaults(guild_id, member.id)
        if not given:
            await interaction.response.send_message(
                embed=defaults_embed(current, None, texts), ephemeral=True
            )
            return
        wanted = await desk.check_defaults(guild_id, current.updated(**given))
        await desk.preferences.save(guild_id, member.id, wanted)
        await interaction.response.send_message(
            embed=defaults_embed(
                wanted, texts._("Saved. Options you give a command still win."), texts
            ),
            ephemeral=True,
        )

    @settings.autocomplete("model")
    async def _model(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return choices(self.bot.desk.model_ids(), current)

    @settings.autocomplete("ratio")
    async def _ratio(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return choices(self.bot.desk.model_spec(interaction.namespace.model).ratios, current)

    @settings.autocomplete("resolution")
    async def _resolution(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return choices(self.bot.desk.model_spec(interaction.namespace.model).resolutions, current)

    @settings.autocomplete("style")
    async def _style(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await style_choices(self.bot.desk, interaction, current)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Settings(bot))

"""``/storyboard``: one consistent sequence of frames from one prompt (Seedream's sequences)."""

# No ``from __future__ import annotations``: the ``frames`` range is computed when the cog is
# made (MAX_STORYBOARD_FRAMES, capped by the serving model), as in ``cogs.imagine``.

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.asked import Asked
from bot.core.job import JobKind
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.desk import JobDesk
from cogs._doors import DELIVERY_OPTIONS, choices, queue_composed, style_choices

#: what a storyboard takes from ``/settings`` (its frame count is always explicit)
STORYBOARD_DEFAULTS = frozenset({"model", "ratio", "resolution", "style", "private", "spoiler"})


def storyboard_command(desk: JobDesk) -> app_commands.Command[Any, ..., None]:
    """``/storyboard`` with ``frames`` limited to what ``desk`` offers."""
    most = max(2, desk.frames_offered())

    @app_commands.command(
        name="storyboard", description="A consistent sequence of images from one prompt"
    )
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        prompt="The story to draw, frame by frame",
        frames="How many frames (at least 2); each costs one image",
        image="A reference image (characters, style) for every frame",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        model="Model",
        ratio="Aspect ratio",
        resolution="Resolution tier",
        style="A named style wrapped around your prompt",
        **DELIVERY_OPTIONS,
    )
    async def storyboard(
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        frames: app_commands.Range[int, 2, most],
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        model: str | None = None,
        ratio: str | None = None,
        resolution: str | None = None,
        style: app_commands.Range[str, 1, 40] | None = None,
        private: bool | None = None,
        spoiler: bool | None = None,
    ) -> None:
        """Queue a storyboard: every frame reserved now, the frames not returned refunded."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        attachments = [a for a in (image, image2, image3, image4) if a is not None]
        asked = Asked(
            prompt=prompt,
            model=model,
            ratio=ratio,
            resolution=resolution,
            count=frames,
            style=style,
            private=private,
            spoiler=spoiler,
        )
        await queue_composed(
            interaction,
            desk,
            asked,
            kind=JobKind.EDIT if attachments else JobKind.IMAGINE,
            attachments=attachments,
            applicable=STORYBOARD_DEFAULTS,
            sequential=True,
        )

    @storyboard.autocomplete("model")
    async def _model(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.storyboard_models(), current)

    @storyboard.autocomplete("ratio")
    async def _ratio(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).ratios, current)

    @storyboard.autocomplete("resolution")
    async def _resolution(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).resolutions, current)

    @storyboard.autocomplete("style")
    async def _style(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await style_choices(desk, interaction, current)

    return storyboard


class Storyboard(commands.Cog):
    """Sequences of frames."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self.command = storyboard_command(bot.desk)

    async def cog_load(self) -> None:
        """The command is made per bot (its range is configured): register it on the tree."""
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        """Take the command off the tree."""
        self.bot.tree.remove_command(self.command.name)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Storyboard(bot))

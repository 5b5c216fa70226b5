"""``/imagine``: text to image."""

# No ``from __future__ import annotations`` here: the ``count`` option's range is computed
# when the cog is made (the operator's setting, capped by the serving provider's models),
# and discord.py reads it from the callback's evaluated annotation (public API only).

from typing import Any

from discord import app_commands
from discord.ext import commands

from bot.core.job import JobKind, JobOrigin
from bot.core.request import GenerationRequest
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.desk import JobDesk
from cogs._doors import accepted_message, choices, slash_door


def imagine_command(desk: JobDesk) -> app_commands.Command[Any, ..., None]:
    """``/imagine`` with ``count`` limited to what ``desk`` offers."""
    most = desk.max_count_offered()

    @app_commands.command(name="imagine", description="Generate images from a text prompt")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        prompt="What to draw",
        ratio="Aspect ratio",
        resolution="Resolution tier",
        count="How many images",
        seed="Seed, for models that take one",
        model="Model",
    )
    async def imagine(
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        ratio: str | None = None,
        resolution: str | None = None,
        count: app_commands.Range[int, 1, most] = 1,
        seed: app_commands.Range[int, 0, 2147483647] | None = None,
        model: str | None = None,
    ) -> None:
        """Queue a text-to-image job and tell the member where its card is."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        request = GenerationRequest(
            prompt=prompt,
            aspect_ratio=ratio,
            resolution=resolution,
            count=count,
            seed=seed,
            model=model,
        )
        job = await desk.start(
            slash_door(interaction),
            kind=JobKind.IMAGINE,
            origin=JobOrigin.SLASH,
            request=request,
        )
        await interaction.followup.send(accepted_message(job, interaction), ephemeral=True)

    @imagine.autocomplete("ratio")
    async def _ratio(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).ratios, current)

    @imagine.autocomplete("resolution")
    async def _resolution(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).resolutions, current)

    @imagine.autocomplete("model")
    async def _model(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_ids(), current)

    return imagine


class Imagine(commands.Cog):
    """Text to image."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self.command = imagine_command(bot.desk)

    async def cog_load(self) -> None:
        """The command is made per bot (its range is configured): register it on the tree."""
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        """Take the command off the tree."""
        self.bot.tree.remove_command(self.command.name)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Imagine(bot))

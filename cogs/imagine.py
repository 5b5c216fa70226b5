"""``/imagine``: text to image."""

from __future__ import annotations

import dataclasses

from discord import app_commands
from discord.ext import commands

from bot.app import Interaction, SeedreamBot
from bot.core.job import JobKind, JobOrigin
from bot.core.request import GenerationRequest
from cogs._doors import accepted_message, choices, slash_door


class Imagine(commands.Cog):
    """Text to image."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self._limit_count(bot.desk.max_count_offered())

    def _limit_count(self, most: int) -> None:
        # The option's range is fixed at decoration time; this cog's copy of the command
        # gets the operator's setting capped by what the serving provider's models allow.
        # (The parameter objects are shared with the class, so replace, don't mutate.)
        params = self.imagine._params
        params["count"] = dataclasses.replace(params["count"], max_value=most)

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
        self,
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        ratio: str | None = None,
        resolution: str | None = None,
        count: app_commands.Range[int, 1, 15] = 1,
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
        job = await self.bot.desk.start(
            **slash_door(interaction),
            kind=JobKind.IMAGINE,
            origin=JobOrigin.SLASH,
            request=request,
        )
        await interaction.followup.send(accepted_message(job), ephemeral=True)

    @imagine.autocomplete("ratio")
    async def _ratio(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        spec = self.bot.desk.model_spec(interaction.namespace.model)
        return choices(spec.ratios, current)

    @imagine.autocomplete("resolution")
    async def _resolution(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        spec = self.bot.desk.model_spec(interaction.namespace.model)
        return choices(spec.resolutions, current)

    @imagine.autocomplete("model")
    async def _model(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return choices(self.bot.desk.model_ids(), current)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Imagine(bot))

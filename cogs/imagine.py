"""``/imagine``: text to image."""

# No ``from __future__ import annotations`` here: the ``count`` option's range is computed
# when the cog is made (the operator's setting, capped by the serving provider's models),
# and discord.py reads it from the callback's evaluated annotation (public API only).

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.asked import Asked
from bot.core.job import JobKind
from bot.core.shapes import parse_size
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.desk import JobDesk
from cogs._doors import DELIVERY_OPTIONS, choices, queue_composed, ratio_choices, style_choices

#: what ``enhance:true`` asks for: the mode every model that enhances offers
ENHANCE_MODE = "standard"


def imagine_command(desk: JobDesk) -> app_commands.Command[Any, ..., None]:
    """``/imagine`` with ``count`` limited to what ``desk`` offers."""
    most = desk.max_count_offered()

    @app_commands.command(name="imagine", description="Generate images from a text prompt")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        prompt="What to draw",
        ratio="Aspect ratio: pick one, or type any W:H such as 5:4",
        resolution="Resolution tier",
        count="How many images",
        seed="Seed, for models that take one (-1: random, where the model documents it)",
        model="Model",
        size="Exact size WIDTHxHEIGHT, e.g. 2560x1440 (instead of ratio and resolution)",
        guidance="How closely to follow the prompt, 1-10 (Seedream 3.0 only)",
        image="An image prompt: a reference the new image follows (PNG, JPEG or WebP)",
        image2="Another image prompt",
        image3="Another image prompt",
        image4="Another image prompt",
        style="A named style wrapped around your prompt",
        enhance="Let the provider enhance the prompt (only on models that offer it)",
        format="Output file format (only on models that offer a choice)",
        **DELIVERY_OPTIONS,
    )
    async def imagine(
        interaction: Interaction,
        prompt: app_commands.Range[str, 1, 6000],
        ratio: str | None = None,
        resolution: str | None = None,
        count: app_commands.Range[int, 1, most] | None = None,
        seed: app_commands.Range[int, -1, 2147483647] | None = None,
        model: str | None = None,
        size: str | None = None,
        guidance: app_commands.Range[float, 1.0, 10.0] | None = None,
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        style: app_commands.Range[str, 1, 40] | None = None,
        enhance: bool | None = None,
        format: str | None = None,
        private: bool | None = None,
        spoiler: bool | None = None,
    ) -> None:
        """Queue a text-to-image job (guided by any image prompts) and say where its card is."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        width, height = parse_size(size) if size is not None else (None, None)
        images = [a for a in (image, image2, image3, image4) if a is not None]
        asked = Asked(
            prompt=prompt,
            model=model,
            ratio=ratio.strip() if ratio else None,
            resolution=resolution,
            count=count,
            style=style,
            private=private,
            spoiler=spoiler,
        )
        await queue_composed(
            interaction,
            desk,
            asked,
            kind=JobKind.IMAGINE,
            attachments=images,
            seed=seed,
            width=width,
            height=height,
            guidance_scale=guidance,
            guided=bool(images),
            enhance=ENHANCE_MODE if enhance else None,
            output_format=format.strip().lower() if format else None,
        )

    @imagine.autocomplete("ratio")
    async def _ratio(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return ratio_choices(desk.model_spec(interaction.namespace.model).ratios, current)

    @imagine.autocomplete("resolution")
    async def _resolution(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).resolutions, current)

    @imagine.autocomplete("style")
    async def _style(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await style_choices(desk, interaction, current)

    @imagine.autocomplete("format")
    async def _format(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(desk.model_spec(interaction.namespace.model).output_formats, current)

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

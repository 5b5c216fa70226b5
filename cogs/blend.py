"""``/blend``: two or more images combined into one new image."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.asked import Asked
from bot.core.job import JobKind
from bot.discord.app import Interaction, SeedreamBot
from cogs._doors import DELIVERY_OPTIONS, choices, queue_composed, ratio_choices

#: what a blend takes from ``/settings``: the model, where and how it is shown (one image,
#: its shape from the ratio or the model's default)
BLEND_DEFAULTS = frozenset({"model", "ratio", "resolution", "private", "spoiler"})

#: what a blend asks for when the member gives no prompt
DEFAULT_BLEND_PROMPT = (
    "Blend the reference images into one coherent new image: combine their subjects, "
    "style and colours naturally in a single scene."
)


class Blend(commands.Cog):
    """Blending images."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="blend", description="Combine 2 or more images into one")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(
        image1="First image (PNG, JPEG or WebP)",
        image2="Second image",
        image3="Another image",
        image4="Another image",
        image5="Another image",
        image6="Another image",
        prompt="How to combine them (default: blend them into one coherent image)",
        ratio="Aspect ratio: pick one, or type any W:H such as 5:4",
        model="Model",
        **DELIVERY_OPTIONS,
    )
    async def blend(
        self,
        interaction: Interaction,
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        image6: discord.Attachment | None = None,
        prompt: app_commands.Range[str, 1, 6000] | None = None,
        ratio: str | None = None,
        model: str | None = None,
        private: bool | None = None,
        spoiler: bool | None = None,
    ) -> None:
        """Queue one image made from the attached ones (as many as the model takes)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        images = [a for a in (image1, image2, image3, image4, image5, image6) if a is not None]
        asked = Asked(
            prompt=(prompt or "").strip() or DEFAULT_BLEND_PROMPT,
            ratio=ratio.strip() if ratio else None,
            model=model,
            private=private,
            spoiler=spoiler,
        )
        await queue_composed(
            interaction,
            self.bot.desk,
            asked,
            kind=JobKind.IMAGINE,
            attachments=images,
            applicable=BLEND_DEFAULTS,
            guided=True,
        )

    @blend.autocomplete("ratio")
    async def _ratio(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        spec = self.bot.desk.model_spec(interaction.namespace.model)
        return ratio_choices(spec.ratios, current)

    @blend.autocomplete("model")
    async def _model(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return choices(self.bot.desk.model_ids(), current)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Blend(bot))

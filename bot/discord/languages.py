"""Which language a reader gets: the member's for private answers, the server's in public.

Private (ephemeral) answers use the interaction's locale, then the server's, then
``DEFAULT_LOCALE``; messages in the channel (cards, results) use the server's, then the
default, since everyone there reads them.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n.catalogs import ENGLISH, Catalogs
from bot.i18n.texts import Texts


def catalogs_of(client: discord.Client) -> Catalogs:
    """The bot's catalogs; English only for a client built without them."""
    found = getattr(client, "catalogs", None)
    return found if isinstance(found, Catalogs) else ENGLISH


def member_texts(interaction: discord.Interaction[Any]) -> Texts:
    """For an answer only the member sees."""
    guild = interaction.guild_locale.value if interaction.guild_locale else None
    return catalogs_of(interaction.client).pick(interaction.locale.value, guild)


def guild_texts(interaction: discord.Interaction[Any]) -> Texts:
    """For a message everyone in the channel sees."""
    guild = interaction.guild_locale.value if interaction.guild_locale else None
    return catalogs_of(interaction.client).pick(guild)


def server_texts(client: discord.Client, guild_id: int | None) -> Texts:
    """For a channel message without an interaction at hand (a card edited later)."""
    guild = client.get_guild(guild_id) if guild_id is not None else None
    return catalogs_of(client).pick(guild.preferred_locale.value if guild else None)

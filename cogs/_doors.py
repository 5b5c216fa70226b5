"""Small helpers the command cogs share (a private module: not loaded as an extension)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import discord
from discord import app_commands

from bot.core.errors import PermissionDeniedError
from bot.core.job import DoorContext, Job
from bot.core.localizable import N_
from bot.discord import render
from bot.discord.app import Interaction
from bot.discord.desk import Door
from bot.discord.languages import member_texts
from bot.discord.replies import send_to_member


def slash_door(interaction: Interaction, *, reply_to: int | None = None) -> Door:
    """The door of an interaction in a guild channel, for ``JobDesk.start``."""
    member = interaction.user
    if not isinstance(member, discord.Member) or interaction.channel_id is None:
        raise PermissionDeniedError(N_("This only works in a server channel."))
    return Door(
        member=member,
        channel_id=interaction.channel_id,
        bot_permissions=interaction.app_permissions,
        # the member's permissions in this channel, as Discord resolved them for the interaction
        member_permissions=interaction.permissions,
        in_thread=isinstance(interaction.channel, discord.Thread),
        context=DoorContext(upload_limit=interaction.filesize_limit, reply_to=reply_to),
        notify=partial(send_to_member, interaction),
    )


def accepted_message(job: Job, interaction: Interaction) -> str:
    """The ephemeral answer once a job is queued, in the member's language."""
    texts = member_texts(interaction)
    return texts._(
        "Queued as job `{job_id}` ({images} reserved). The result will appear below.",
        job_id=job.id,
        images=render.images_text(job.cost_reserved, texts),
    )


def choices(values: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices filtered by what the member typed (Discord shows at most 25)."""
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=value, value=value) for value in values if needle in value.lower()
    ][:25]

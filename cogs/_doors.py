"""Small helpers the command cogs share (a private module: not loaded as an extension)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial

import discord
from discord import app_commands

from bot.core.errors import PermissionDeniedError
from bot.core.job import DoorContext, Job
from bot.discord.app import Interaction
from bot.discord.desk import Door
from bot.discord.replies import send_to_member

#: a typed ``W:H`` of whole numbers, offered back as a choice
RATIO_TYPED = re.compile(r"[1-9]\d{0,4}:[1-9]\d{0,4}")


def slash_door(interaction: Interaction, *, reply_to: int | None = None) -> Door:
    """The door of an interaction in a guild channel, for ``JobDesk.start``."""
    member = interaction.user
    if not isinstance(member, discord.Member) or interaction.channel_id is None:
        raise PermissionDeniedError("This only works in a server channel.")
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


def accepted_message(job: Job) -> str:
    """The ephemeral answer once a job is queued."""
    cost = job.cost_reserved
    images = "image" if cost == 1 else "images"
    return f"Queued as job `{job.id}` ({cost} {images} reserved). The result will appear below."


def choices(values: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices filtered by what the member typed (Discord shows at most 25)."""
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=value, value=value) for value in values if needle in value.lower()
    ][:25]


def ratio_choices(presets: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """The presets matching what the member typed, led by the typed ``W:H`` itself when it is
    one (any ratio may be sent; the model's bounds are checked on submit)."""
    found = choices(presets, current)
    typed = current.strip()
    if RATIO_TYPED.fullmatch(typed) and typed not in {choice.value for choice in found}:
        found.insert(0, app_commands.Choice(name=typed, value=typed))
    return found[:25]

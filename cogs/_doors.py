"""Small helpers the command cogs share (a private module: not loaded as an extension)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import discord
from discord import app_commands

from bot.app import Interaction
from bot.core.errors import PermissionDeniedError
from bot.core.job import Job
from bot.ui.desk import DoorContext, check_post_permissions


def slash_door(interaction: Interaction, *, reply_to: int | None = None) -> dict[str, Any]:
    """The door arguments of ``JobDesk.start`` for an interaction in a guild channel."""
    member = interaction.user
    if not isinstance(member, discord.Member) or interaction.channel_id is None:
        raise PermissionDeniedError("This only works in a server channel.")
    return {
        "member": member,
        "channel_id": interaction.channel_id,
        "bot_permissions": interaction.app_permissions,
        # the member's permissions in this channel, as Discord resolved them for the interaction
        "member_permissions": interaction.permissions,
        "in_thread": isinstance(interaction.channel, discord.Thread),
        "door": DoorContext(
            upload_limit=interaction.filesize_limit,
            reply_to=reply_to,
            notify=partial(_followup, interaction),
        ),
    }


def check_door_permissions(interaction: Interaction) -> None:
    """Refuse at once, before a modal asks for anything, if the bot or the member can't post
    here (``JobDesk.start`` checks again when the job is asked for)."""
    check_post_permissions(
        bot=interaction.app_permissions,
        member=interaction.permissions,
        thread=isinstance(interaction.channel, discord.Thread),
    )


async def _followup(interaction: Interaction, text: str) -> None:
    if not interaction.is_expired():
        await interaction.followup.send(text, ephemeral=True)


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


def is_moderator(permissions: discord.Permissions) -> bool:
    """Who may cancel or delete someone else's job."""
    return permissions.manage_guild or permissions.manage_messages

"""Small helpers the command cogs share (a private module: not loaded as an extension)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import partial

import discord
from discord import app_commands

from bot.core.asked import Asked
from bot.core.errors import PermissionDeniedError
from bot.core.job import DoorContext, Job, JobAction, JobKind, JobOrigin
from bot.core.localizable import N_
from bot.discord import render
from bot.discord.app import Interaction
from bot.discord.desk import Door, JobDesk
from bot.discord.languages import member_texts
from bot.discord.replies import send_to_member

#: a typed ``W:H`` of whole numbers, offered back as a choice
RATIO_TYPED = re.compile(r"[1-9]\d{0,4}:[1-9]\d{0,4}")


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
        texts=member_texts(interaction),
    )


def accepted_message(job: Job, interaction: Interaction, *, private: bool = False) -> str:
    """The ephemeral answer once a job is queued, in the member's language."""
    texts = member_texts(interaction)
    images = render.images_text(job.cost_reserved, texts)
    if private:
        return texts._(
            "Queued as job `{job_id}` ({images} reserved). The result will arrive in your DMs.",
            job_id=job.id,
            images=images,
        )
    return texts._(
        "Queued as job `{job_id}` ({images} reserved). The result will appear below.",
        job_id=job.id,
        images=images,
    )


def choices(values: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices filtered by what the member typed (Discord shows at most 25)."""
    needle = current.strip().lower()
    return [
        app_commands.Choice(name=value, value=value) for value in values if needle in value.lower()
    ][:25]


#: ``@app_commands.describe(**DELIVERY_OPTIONS)`` for a command that takes ``private`` and
#: ``spoiler`` (``bool | None = None`` parameters, so a ``/settings`` default can fill them)
DELIVERY_OPTIONS = {
    "private": "Send the card and images to your DMs instead of this channel",
    "spoiler": "Post the images behind Discord's spoiler",
}


#: what an edit takes from ``/settings``: where and how it is shown, and the model (its
#: shape comes from the source image, its style from the instruction)
EDIT_DEFAULTS = frozenset({"model", "private", "spoiler"})


async def queue_composed(
    interaction: Interaction,
    desk: JobDesk,
    asked: Asked,
    *,
    kind: JobKind,
    origin: JobOrigin = JobOrigin.SLASH,
    attachments: Sequence[discord.Attachment] = (),
    applicable: frozenset[str] | None = None,
    parent_job_id: str | None = None,
    action: JobAction | None = None,
    **extra: object,
) -> Job:
    """Apply the member's defaults and style, queue the job, and say where it went."""
    door = slash_door(interaction)
    composed = await desk.compose(door, asked, applicable=applicable, **extra)
    job = await desk.start(
        door,
        kind=kind,
        origin=origin,
        request=composed.request,
        attachments=attachments,
        parent_job_id=parent_job_id,
        action=action,
        private=composed.private,
    )
    text = accepted_message(job, interaction, private=composed.private)
    await interaction.followup.send(text, ephemeral=True)
    return job


async def style_choices(
    desk: JobDesk, interaction: Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The styles usable in this server (its own, then the operator's), for autocomplete."""
    if interaction.guild_id is None:
        return []
    styles = await desk.preferences.styles(interaction.guild_id)
    return choices(styles, current)


def ratio_choices(presets: Iterable[str], current: str) -> list[app_commands.Choice[str]]:
    """The presets matching what the member typed, led by the typed ``W:H`` itself when it is
    one (any ratio may be sent; the model's bounds are checked on submit)."""
    found = choices(presets, current)
    typed = current.strip()
    if RATIO_TYPED.fullmatch(typed) and typed not in {choice.value for choice in found}:
        found.insert(0, app_commands.Choice(name=typed, value=typed))
    return found[:25]

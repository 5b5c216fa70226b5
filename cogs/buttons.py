"""The buttons under cards and results: Re-roll, Remix, Edit, Delete, Cancel, the image picker
and each image's Vary, 4K, Edit and Use as reference.

They are ``DynamicItem``s keyed by ``custom_id``, so a result posted before a restart still
answers after it.
"""

from __future__ import annotations

import contextlib
import logging
import re
from functools import partial
from typing import Any

import discord
from discord.ext import commands

from bot.core.asked import Asked
from bot.core.errors import PermissionDeniedError, SeedreamError
from bot.core.job import Job, JobAction, JobKind, JobOrigin
from bot.core.localizable import N_
from bot.discord import render
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.attachments import message_images
from bot.discord.checks import check_door_permissions, is_moderator, server_gate
from bot.discord.languages import member_texts
from bot.discord.replies import report_error, send_to_member
from bot.discord.views import CHOOSE_ID, CUSTOM_ID, Action, InstructionModal, choose_id, custom_id
from cogs._doors import EDIT_DEFAULTS, queue_composed
from cogs._image_actions import ImageActions, RecentClicks

log = logging.getLogger(__name__)


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=CUSTOM_ID.pattern,
):
    """Any job button; the action, the job id and the image (if any) come from the custom id."""

    def __init__(self, action: Action, job_id: str, index: int | None = None) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id(action, job_id, index)))
        self.action = action
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        """Rebuild the button from its custom id (after a restart too)."""
        index = match["index"]
        return cls(Action(match["action"]), match["job_id"], int(index) if index else None)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The operator's server gate, as for commands (clicks bypass the command tree)."""
        return await server_gate(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to the cog; every error reaches the member through ``replies``."""
        cog = interaction.client.get_cog(Buttons.__cog_name__)
        try:
            if not isinstance(cog, Buttons):
                raise SeedreamError(N_("The bot is still starting; try again in a moment."))
            await cog.clicked(interaction, self.action, self.job_id, self.index)
        except Exception as exc:
            where = f"the {self.action} button (job {self.job_id})"
            await report_error(interaction, exc, where=where)


class ImagePicker(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=CHOOSE_ID.pattern,
):
    """The select menu that picks one image of a result with more than four."""

    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Select(custom_id=choose_id(job_id)))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ImagePicker:
        """Rebuild the picker from its custom id (after a restart too)."""
        return cls(match["job_id"])

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The operator's server gate, as for commands (clicks bypass the command tree)."""
        return await server_gate(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Open the picked image's actions; every error reaches the member through ``replies``."""
        cog = interaction.client.get_cog(Buttons.__cog_name__)
        try:
            if not isinstance(cog, Buttons):
                raise SeedreamError(N_("The bot is still starting; try again in a moment."))
            picked = self.item.values
            if not picked or not picked[0].isdigit():
                raise SeedreamError(N_("Pick one image from the list."))
            await cog.actions.panel(interaction, self.job_id, int(picked[0]))
        except Exception as exc:
            await report_error(interaction, exc, where=f"the image picker (job {self.job_id})")


class Buttons(commands.Cog):
    """What each job button does."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self.clicks = RecentClicks()
        self.actions = ImageActions(bot, self.clicks)

    async def cog_load(self) -> None:
        """Route every matching custom id to ``JobButton`` and ``ImagePicker``."""
        self.bot.add_dynamic_items(JobButton, ImagePicker)

    async def cog_unload(self) -> None:
        """Stop routing."""
        self.bot.remove_dynamic_items(JobButton, ImagePicker)

    async def clicked(
        self, interaction: Interaction, action: Action, job_id: str, index: int | None = None
    ) -> None:
        """Dispatch one click. Modals must be the first answer, within 3 s: they open before
        anything slow."""
        actions = self.actions
        if action is Action.EDIT and index is None:
            check_door_permissions(interaction)
            handler = partial(self._edit_submitted, job_id=job_id)
            await interaction.response.send_modal(
                InstructionModal(handler, member_texts(interaction))
            )
            return
        if action is Action.EDIT and index is not None:
            await actions.open_edit(interaction, job_id, index)
            return
        if action is Action.REFERENCE and index is not None:
            await actions.open_reference(interaction, job_id, index)
            return
        if action is Action.REMIX:
            await actions.open_remix(interaction, job_id)
            return
        if action is Action.PICK and index is not None:
            await actions.panel(interaction, job_id, index)
            return
        if self.clicks.repeated(action.value, job_id, interaction.user.id, index):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        if action in (Action.VARY_SUBTLE, Action.VARY_STRONG) and index is not None:
            strong = action is Action.VARY_STRONG
            await actions.vary(interaction, job_id, index, strong=strong)
        elif action is Action.UPSCALE and index is not None:
            await actions.upscale(interaction, job_id, index)
        elif action is Action.REROLL:
            await interaction.response.defer(ephemeral=True, thinking=True)
            parent = await actions.job(job_id)
            await actions.again(
                interaction, parent, parent.request, JobKind.REROLL, JobAction.REROLL
            )
        elif action is Action.DELETE:
            await self._delete(interaction, job_id)
        elif action is Action.CANCEL:
            await self._cancel(interaction, job_id)
        else:
            raise SeedreamError(N_("That button no longer does anything."))

    async def _edit_submitted(
        self, interaction: Interaction, instruction: str, *, job_id: str
    ) -> None:
        if self.clicks.repeated(f"edit:{instruction}", job_id, interaction.user.id):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        source = interaction.message
        images = message_images(source) if source is not None else []
        if not images:
            raise SeedreamError(N_("That result has no image left to edit."))
        parent = await self._job(job_id)
        # an edit of a spoilered result stays behind a spoiler
        asked = Asked(prompt=instruction, spoiler=True if parent.request.spoiler else None)
        await queue_composed(
            interaction,
            self.bot.desk,
            asked,
            kind=JobKind.EDIT,
            origin=JobOrigin.BUTTON,
            attachments=images,
            applicable=EDIT_DEFAULTS,
            parent_job_id=job_id,
            action=JobAction.EDIT,
        )

    async def _delete(self, interaction: Interaction, job_id: str) -> None:
        job = await self._job(job_id)
        if interaction.user.id != job.user_id and not is_moderator(interaction.permissions):
            raise PermissionDeniedError(
                N_("Only the member who asked for it or a moderator can delete this.")
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        targets = {*job.result_message_ids, *(m for m in [job.card_message_id] if m)}
        if interaction.message is not None:
            targets.add(interaction.message.id)
        for message_id in targets:
            with contextlib.suppress(discord.NotFound):
                await channel.get_partial_message(message_id).delete()
        await interaction.followup.send(member_texts(interaction)._("Deleted."), ephemeral=True)

    async def _cancel(self, interaction: Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.bot.jobs.cancel_job(
            job_id,
            by_user_id=interaction.user.id,
            is_moderator=is_moderator(interaction.permissions),
        )
        texts = member_texts(interaction)
        refunded = render.images_text(job.refunded or 0, texts)
        await interaction.followup.send(
            texts._(
                "Job `{job_id}` cancelled; {refunded} refunded.", job_id=job.id, refunded=refunded
            ),
            ephemeral=True,
        )

    async def _job(self, job_id: str) -> Job:
        return await self.actions.job(job_id)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Buttons(bot))

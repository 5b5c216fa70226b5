"""The buttons under cards and results: Re-roll, Edit, Delete, Cancel.

They are ``DynamicItem``s keyed by ``custom_id``, so a result posted before a restart still
answers after it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from functools import partial
from typing import Any

import discord
from discord.ext import commands

from bot.core.errors import JobNotFoundError, PermissionDeniedError, SeedreamError
from bot.core.job import JobKind, JobOrigin
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.discord import render
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.attachments import message_images
from bot.discord.checks import check_door_permissions, is_moderator, server_gate
from bot.discord.languages import member_texts
from bot.discord.references import refresh_references
from bot.discord.replies import report_error, send_to_member
from bot.discord.views import CUSTOM_ID, Action, InstructionModal, custom_id
from cogs._doors import accepted_message, slash_door

log = logging.getLogger(__name__)

#: a second click on the same button within this many seconds is the same click
DOUBLE_CLICK_WINDOW = 10.0


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=CUSTOM_ID.pattern,
):
    """Any job button; the action and the job id come from the custom id."""

    def __init__(self, action: Action, job_id: str) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id(action, job_id)))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        """Rebuild the button from its custom id (after a restart too)."""
        return cls(Action(match["action"]), match["job_id"])

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """The operator's server gate, as for commands (clicks bypass the command tree)."""
        return await server_gate(interaction)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to the cog; every error reaches the member through ``replies``."""
        cog = interaction.client.get_cog(Buttons.__cog_name__)
        try:
            if not isinstance(cog, Buttons):
                raise SeedreamError(N_("The bot is still starting; try again in a moment."))
            await cog.clicked(interaction, self.action, self.job_id)
        except Exception as exc:
            where = f"the {self.action} button (job {self.job_id})"
            await report_error(interaction, exc, where=where)


class Buttons(commands.Cog):
    """What each job button does."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self._recent_clicks: dict[tuple[str, str, int], float] = {}

    async def cog_load(self) -> None:
        """Route every matching custom id to ``JobButton``."""
        self.bot.add_dynamic_items(JobButton)

    async def cog_unload(self) -> None:
        """Stop routing."""
        self.bot.remove_dynamic_items(JobButton)

    async def clicked(self, interaction: Interaction, action: Action, job_id: str) -> None:
        """Dispatch one click."""
        if action is Action.EDIT:
            check_door_permissions(interaction)
            # A modal must be the first answer, within 3 s: open it before anything slow.
            handler = partial(self._edit_submitted, job_id=job_id)
            await interaction.response.send_modal(
                InstructionModal(handler, member_texts(interaction))
            )
            return
        if self._double_click(action, job_id, interaction.user.id):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        if action is Action.REROLL:
            await self._reroll(interaction, job_id)
        elif action is Action.DELETE:
            await self._delete(interaction, job_id)
        else:
            await self._cancel(interaction, job_id)

    def _double_click(self, action: Action, job_id: str, user_id: int) -> bool:
        now = time.monotonic()
        self._recent_clicks = {
            key: at for key, at in self._recent_clicks.items() if now - at < DOUBLE_CLICK_WINDOW
        }
        key = (action.value, job_id, user_id)
        if key in self._recent_clicks:
            return True
        self._recent_clicks[key] = now
        return False

    async def _reroll(self, interaction: Interaction, job_id: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self._job(job_id)
        request = parent.request
        door = slash_door(interaction)
        if request.reference_images:
            # refuse cheaply (permissions, quota, blocklist) before touching any image
            await self.bot.desk.screen(
                door, kind=JobKind.REROLL, origin=JobOrigin.BUTTON, request=request
            )
            # an edit's reference URLs expire after about a day: read them again
            refreshed = await refresh_references(
                self.bot, self.bot.http_client, parent.guild_id, request.reference_images
            )
            if refreshed.attachments:
                await self.bot.desk.references(list(refreshed.attachments), request.model)
                request = request.model_copy(update={"reference_images": refreshed.urls})
        job = await self.bot.desk.start(
            door,
            kind=JobKind.REROLL,
            origin=JobOrigin.BUTTON,
            request=request,
            parent_job_id=parent.id,
        )
        await interaction.followup.send(accepted_message(job, interaction), ephemeral=True)

    async def _edit_submitted(
        self, interaction: Interaction, instruction: str, *, job_id: str
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        source = interaction.message
        images = message_images(source) if source is not None else []
        if not images:
            raise SeedreamError(N_("That result has no image left to edit."))
        job = await self.bot.desk.start(
            slash_door(interaction),
            kind=JobKind.EDIT,
            origin=JobOrigin.BUTTON,
            request=GenerationRequest(prompt=instruction),
            attachments=images,
            parent_job_id=job_id,
        )
        await interaction.followup.send(accepted_message(job, interaction), ephemeral=True)

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

    async def _job(self, job_id: str) -> Any:
        job = await self.bot.jobs.get_job(job_id)
        if job is None:
            raise JobNotFoundError(N_("That job no longer exists."))
        return job


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Buttons(bot))

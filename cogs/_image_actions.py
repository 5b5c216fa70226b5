"""The creative loop under a result: pick an image; vary, 4K, edit or reuse it; remix the job."""

from __future__ import annotations

import time
from functools import partial

from bot.core.errors import JobNotFoundError, RequestValidationError
from bot.core.job import Job, JobAction, JobKind, JobOrigin
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.checks import check_door_permissions
from bot.discord.languages import member_texts
from bot.discord.references import refresh_references
from bot.discord.replies import send_to_member
from bot.discord.source_image import SourceImageGoneError, source_image
from bot.discord.views import InstructionModal, PromptModal, image_view
from bot.jobs import derived
from bot.providers.sizes import nearest_ratio
from cogs._doors import accepted_message, slash_door

#: a second click on the same button within this many seconds is the same click
DOUBLE_CLICK_WINDOW = 10.0


class RecentClicks:
    """Clicks (and modal answers) seen lately, so a double click makes one job."""

    def __init__(self, window: float = DOUBLE_CLICK_WINDOW) -> None:
        self.window = window
        self._seen: dict[tuple[str, str, int, int | None], float] = {}

    def repeated(self, what: str, job_id: str, user_id: int, index: int | None = None) -> bool:
        """True when the same member did ``what`` to the same job (and image) just now."""
        now = time.monotonic()
        self._seen = {key: at for key, at in self._seen.items() if now - at < self.window}
        key = (what, job_id, user_id, index)
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


class ImageActions:
    """What each per-image button (and Remix, Re-roll) does; ``Buttons`` routes clicks here."""

    def __init__(self, bot: SeedreamBot, clicks: RecentClicks) -> None:
        self.bot = bot
        self.clicks = clicks

    async def job(self, job_id: str) -> Job:
        """The parent job of a click."""
        job = await self.bot.jobs.get_job(job_id)
        if job is None:
            raise JobNotFoundError(N_("That job no longer exists."))
        return job

    # ------------------------------------------------------------------------ picking

    async def panel(self, interaction: Interaction, job_id: str, index: int) -> None:
        """The actions for one picked image, privately to the member who picked it."""
        parent = await self.job(job_id)
        if not any(image.index == index for image in parent.images):
            raise SourceImageGoneError()
        tier = self.bot.desk.posting.upscale_tier(parent)
        texts = member_texts(interaction)
        await interaction.response.send_message(
            texts._(
                "Image {number} of job `{job_id}`: what should I do with it?",
                number=index + 1,
                job_id=parent.id,
            ),
            view=image_view(parent.id, index, tier, texts),
            ephemeral=True,
        )

    # ---------------------------------------------------------------- one-click actions

    async def vary(
        self, interaction: Interaction, job_id: str, index: int, *, strong: bool
    ) -> None:
        """Vary (subtle) or Vary (strong): an edit of the image with the original prompt."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self.job(job_id)
        spec = self.bot.desk.model_spec(parent.request.model)
        request = derived.vary(parent.request, spec, strong=strong)
        action = JobAction.VARY_STRONG if strong else JobAction.VARY_SUBTLE
        await self._start(interaction, parent, index, request, JobKind.EDIT, action)

    async def upscale(self, interaction: Interaction, job_id: str, index: int) -> None:
        """4K: the image alone, re-rendered at the model's highest tier (not an upscaler)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self.job(job_id)
        tier = self.bot.desk.posting.upscale_tier(parent)
        if tier is None:
            raise RequestValidationError(
                "resolution", N_("this image is already at the model's highest resolution.")
            )
        spec = self.bot.desk.model_spec(parent.request.model)

        def shaped(width: int | None, height: int | None) -> GenerationRequest:
            # the parent's ratio, else the image's own shape snapped to the nearest preset
            ratio = parent.request.aspect_ratio
            if ratio is None:
                ratio = nearest_ratio(width, height, spec.ratios) if width and height else "1:1"
            return derived.upscale(parent.request, spec, tier=tier, ratio=ratio)

        await self._start(interaction, parent, index, shaped, JobKind.EDIT, JobAction.UPSCALE)

    # --------------------------------------------------------------------- modal actions

    async def open_edit(self, interaction: Interaction, job_id: str, index: int) -> None:
        """Edit: ask for the instruction (the modal must be the first answer)."""
        check_door_permissions(interaction)
        handler = partial(self._edit_submitted, job_id=job_id, index=index)
        modal = InstructionModal(handler, member_texts(interaction), title=N_("Edit this image"))
        await interaction.response.send_modal(modal)

    async def open_reference(self, interaction: Interaction, job_id: str, index: int) -> None:
        """Use as reference: ask for the prompt and ratio, pre-filled from the job."""
        check_door_permissions(interaction)
        parent = await self.job(job_id)
        handler = partial(self._reference_submitted, job_id=job_id, index=index)
        await interaction.response.send_modal(
            PromptModal(
                handler,
                member_texts(interaction),
                title=N_("New image from this one"),
                prompt=derived.base_prompt(parent.request.prompt),
                ratio=parent.request.aspect_ratio or "",
            )
        )

    async def open_remix(self, interaction: Interaction, job_id: str) -> None:
        """Remix: the job's prompt and ratio to change, then the same job again."""
        check_door_permissions(interaction)
        parent = await self.job(job_id)
        handler = partial(self._remix_submitted, job_id=job_id)
        await interaction.response.send_modal(
            PromptModal(
                handler,
                member_texts(interaction),
                title=N_("Remix"),
                prompt=parent.request.prompt,
                ratio=parent.request.aspect_ratio or "",
            )
        )

    async def _edit_submitted(
        self, interaction: Interaction, instruction: str, *, job_id: str, index: int
    ) -> None:
        if self._repeated(interaction, JobAction.EDIT, job_id, index, instruction):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self.job(job_id)
        request = derived.edit(parent.request, instruction)
        await self._start(interaction, parent, index, request, JobKind.EDIT, JobAction.EDIT)

    async def _reference_submitted(
        self, interaction: Interaction, prompt: str, ratio: str, *, job_id: str, index: int
    ) -> None:
        if self._repeated(interaction, JobAction.REFERENCE, job_id, index, prompt + ratio):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self.job(job_id)
        spec = self.bot.desk.model_spec(parent.request.model)
        request = derived.reference(parent.request, spec, prompt, ratio)
        await self._start(interaction, parent, index, request, JobKind.IMAGINE, JobAction.REFERENCE)

    async def _remix_submitted(
        self, interaction: Interaction, prompt: str, ratio: str, *, job_id: str
    ) -> None:
        if self._repeated(interaction, JobAction.REMIX, job_id, None, prompt + ratio):
            await send_to_member(interaction, member_texts(interaction)._("Already on it."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self.job(job_id)
        request = derived.remix(parent.request, prompt, ratio)
        kind = JobKind.EDIT if request.reference_images else JobKind.IMAGINE
        await self.again(interaction, parent, request, kind, JobAction.REMIX)

    # ------------------------------------------------------------------------ the job

    async def again(
        self,
        interaction: Interaction,
        parent: Job,
        request: GenerationRequest,
        kind: JobKind,
        action: JobAction,
    ) -> None:
        """A new job from the whole parent (Re-roll, Remix); an edit's references are read
        again from their messages when their URLs expired."""
        door = slash_door(interaction)
        if request.reference_images:
            # refuse cheaply (permissions, quota, blocklist) before touching any image
            await self.bot.desk.screen(door, kind=kind, origin=JobOrigin.BUTTON, request=request)
            refreshed = await refresh_references(
                self.bot, self.bot.http_client, parent.guild_id, request.reference_images
            )
            if refreshed.attachments:
                await self.bot.desk.references(list(refreshed.attachments), request.model)
                request = request.model_copy(update={"reference_images": refreshed.urls})
        job = await self.bot.desk.start(
            door,
            kind=kind,
            origin=JobOrigin.BUTTON,
            request=request,
            parent_job_id=parent.id,
            action=action,
        )
        await interaction.followup.send(accepted_message(job, interaction), ephemeral=True)

    async def _start(
        self,
        interaction: Interaction,
        parent: Job,
        index: int,
        request: GenerationRequest | derived.Shaper,
        kind: JobKind,
        action: JobAction,
    ) -> None:
        """Check cheaply, read the picked image fresh from its message, then start the job
        with that image as the only reference, charged to the member who clicked."""
        door = slash_door(interaction)
        first = request if isinstance(request, GenerationRequest) else request(None, None)
        await self.bot.desk.screen(door, kind=kind, origin=JobOrigin.BUTTON, request=first)
        attachment = await source_image(self.bot, parent, index)
        if not isinstance(request, GenerationRequest):
            request = request(attachment.width, attachment.height)
        job = await self.bot.desk.start(
            door,
            kind=kind,
            origin=JobOrigin.BUTTON,
            request=request,
            attachments=[attachment],
            parent_job_id=parent.id,
            source_index=index,
            action=action,
        )
        await interaction.followup.send(accepted_message(job, interaction), ephemeral=True)

    def _repeated(
        self, interaction: Interaction, action: JobAction, job_id: str, index: int | None, text: str
    ) -> bool:
        """The same modal answer twice in the double-click window (a double submit)."""
        return self.clicks.repeated(f"{action}:{text}", job_id, interaction.user.id, index)

"""Where every door (slash command, reply, context menu, button) hands a job to the engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import discord

from bot.core.asked import Asked, MemberDefaults
from bot.core.errors import RequestValidationError
from bot.core.job import DoorContext, Job, JobAction, JobKind, JobOrigin, JobSpec
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.discord.attachments import ReferenceChecker
from bot.discord.cards import Notify
from bot.discord.checks import check_post_permissions
from bot.discord.composing import Composed, blame_default, compose
from bot.discord.posting import DiscordPosting
from bot.discord.private import dm_context, open_dm
from bot.i18n.catalogs import ENGLISH
from bot.i18n.texts import Texts
from bot.jobs.engine import JobEngine
from bot.jobs.pipeline import first_candidate
from bot.jobs.preferences import Preferences
from bot.providers.base import ModelSpec, Provider, max_frames
from bot.quotas.admission import Admission


@dataclass(frozen=True)
class Door:
    """Who asks for a job and where, as the door saw it (``cogs._doors`` builds it)."""

    member: discord.Member
    channel_id: int
    #: the bot's and the member's permissions in the channel
    bot_permissions: discord.Permissions
    member_permissions: discord.Permissions
    in_thread: bool
    #: kept with the job in the ledger: upload limit, the message to reply to
    context: DoorContext = field(default_factory=DoorContext)
    #: sends the member a private note; process-local, never stored
    notify: Notify | None = None
    #: the member's language, for what only they read (the note opening a private DM)
    texts: Texts = ENGLISH.default


class JobDesk:
    """Checks what only Discord knows, then asks the engine for the job."""

    def __init__(
        self,
        *,
        jobs: JobEngine,
        posting: DiscordPosting,
        providers: Sequence[Provider],
        admission: Admission,
        reference_checker: ReferenceChecker,
        max_count: int,
        preferences: Preferences,
        max_frames: int = 15,
    ) -> None:
        self.jobs = jobs
        self.preferences = preferences
        #: ``MAX_STORYBOARD_FRAMES``: a storyboard's cap instead of ``max_count``
        self.max_frames = max_frames
        self.posting = posting
        self.providers = list(providers)
        self.max_count = max_count
        self.admission = admission
        #: one for the whole bot: its limiter bounds image checks bot-wide
        self.reference_checker = reference_checker

    def model_spec(self, model_id: str | None) -> ModelSpec:
        """The serving provider's spec for ``model_id``, or its default model's."""
        capabilities = self.providers[0].capabilities
        try:
            return capabilities.model(model_id)
        except RequestValidationError:
            return capabilities.model(None)

    def provider_label(self, name: str | None) -> str | None:
        """A provider's display name (``PoYo`` for ``poyo``)."""
        for provider in self.providers:
            if provider.name == name:
                return provider.display_name
        return name

    def max_count_offered(self) -> int:
        """The largest ``count`` to offer: the setting, capped by the most any model makes."""
        most = max(spec.max_count for spec in self.providers[0].capabilities.models)
        return max(1, min(self.max_count, most))

    def frames_offered(self, model_id: str | None = None) -> int:
        """The most storyboard frames to offer: the setting, capped by the model's sequence."""
        return min(self.max_frames, max_frames(self.model_spec(model_id)))

    def storyboard_models(self) -> tuple[str, ...]:
        """The serving provider's models that make storyboards."""
        return tuple(s.id for s in self.providers[0].capabilities.models if s.sequential)

    async def compose(
        self,
        door: Door,
        asked: Asked,
        *,
        applicable: frozenset[str] | None = None,
        **extra: object,
    ) -> Composed:
        """The member's request with their ``/settings`` defaults and style applied."""
        member = door.member
        return await compose(
            self.preferences, member.guild.id, member.id, asked, applicable=applicable, **extra
        )

    async def check_defaults(self, guild_id: int, defaults: MemberDefaults) -> MemberDefaults:
        """The defaults a member wants to save, checked as a request would be; normalised."""
        style = None
        if defaults.style is not None:
            style, _ = await self.preferences.template(guild_id, defaults.style)
        if defaults.count is not None and not 1 <= defaults.count <= self.max_count_offered():
            raise RequestValidationError(
                "count", N_("must be between 1 and {most}."), most=self.max_count_offered()
            )
        probe = GenerationRequest(
            prompt="-",
            model=defaults.model,
            aspect_ratio=defaults.ratio,
            resolution=defaults.resolution,
            count=defaults.count or 1,
        )
        checked = first_candidate(self.providers, probe).validate(probe)
        return dataclasses.replace(
            defaults,
            style=style,
            resolution=checked.resolution if defaults.resolution else None,
        )

    def model_ids(self) -> tuple[str, ...]:
        """The models the serving provider offers."""
        return self.providers[0].capabilities.model_ids

    async def start(
        self,
        door: Door,
        *,
        kind: JobKind,
        origin: JobOrigin,
        request: GenerationRequest,
        attachments: Sequence[discord.Attachment] = (),
        parent_job_id: str | None = None,
        private: bool = False,
        source_index: int | None = None,
        action: JobAction | None = None,
    ) -> Job:
        """Check, reserve quota and queue the job; raise a user-safe error otherwise.

        The cheap refusals come first (permissions, count, then, when there are
        ``attachments`` or the result is ``private``, the quota rules as a dry run); only
        then are the member's DMs opened (``private``) and the attachments downloaded and
        checked, becoming the request's reference images.
        """
        try:
            spec = await self.screen(
                door,
                kind=kind,
                origin=origin,
                request=request,
                parent_job_id=parent_job_id,
                source_index=source_index,
                action=action,
                dry_run=bool(attachments) or private,
                private=private,
            )
            if private or request.sequential or attachments:
                # every bound, the references counted, is checked before DMs are opened or
                # anything is downloaded
                urls = tuple(attachment.url for attachment in attachments)
                first_candidate(
                    self.providers,
                    request.model_copy(
                        update={"reference_images": request.reference_images + urls}
                    ),
                )
            if private:
                dm = await open_dm(door.member, door.texts, storyboard=request.sequential)
                spec = dataclasses.replace(spec, channel_id=dm.id, door=dm_context(spec.door))
            if attachments:
                request = await self.with_references(
                    request, attachments, keep_shape=kind is JobKind.EDIT
                )
                spec = dataclasses.replace(spec, request=request)
            job = await self.jobs.create_job(spec)
        except RequestValidationError as exc:
            raise blame_default(exc, request.defaults) from None
        # No await between the job's creation and this: nothing can fail it before.
        if door.notify is not None:
            self.posting.remember(job.id, door.notify)
        return job

    async def screen(
        self,
        door: Door,
        *,
        kind: JobKind,
        origin: JobOrigin,
        request: GenerationRequest,
        parent_job_id: str | None = None,
        source_index: int | None = None,
        action: JobAction | None = None,
        dry_run: bool = True,
        private: bool = False,
    ) -> JobSpec:
        """The cheap refusals, before anything costly: permissions (not for a ``private``
        result, posted in DMs), count, and (``dry_run``) the quota rules without reserving.
        The job's spec when all pass."""
        if not private:
            check_post_permissions(
                bot=door.bot_permissions, member=door.member_permissions, thread=door.in_thread
            )
        if request.sequential:
            if not 2 <= request.count <= self.max_frames:
                raise RequestValidationError(
                    "frames", N_("must be between 2 and {most}."), most=self.max_frames
                )
        elif kind is not JobKind.REROLL and request.count > self.max_count:
            raise RequestValidationError(
                "count", N_("must be between 1 and {most}."), most=self.max_count
            )
        member = door.member
        spec = JobSpec(
            guild_id=member.guild.id,
            channel_id=door.channel_id,
            user_id=member.id,
            role_ids=tuple(role.id for role in member.roles),
            kind=kind,
            origin=origin,
            request=request,
            parent_job_id=parent_job_id,
            source_index=source_index,
            action=action,
            door=door.context,
        )
        if dry_run:
            await self.admission.precheck(spec)
        return spec

    async def references(
        self, attachments: Sequence[discord.Attachment], model: str | None = None
    ) -> tuple[str, ...]:
        """Check reference images against the serving model's limit; their URLs.

        Downloads them: a door passes ``attachments`` to :meth:`start` instead, which
        runs the cheap refusals first.
        """
        max_refs = self.model_spec(model).max_refs
        return await self.reference_checker.check(attachments, max_refs=max_refs)

    async def with_references(
        self,
        request: GenerationRequest,
        attachments: Sequence[discord.Attachment],
        *,
        keep_shape: bool,
    ) -> GenerationRequest:
        """The request with the checked attachments as its references (one too many is
        refused before any download), their formats, and (``keep_shape``, an edit) the first
        one's displayed size, read off the event loop while checking it."""
        max_refs = self.model_spec(request.model).max_refs
        infos = await self.reference_checker.inspect(attachments, max_refs=max_refs)
        update: dict[str, object] = {
            "reference_images": tuple(attachment.url for attachment in attachments),
            "reference_formats": tuple(info.format for info in infos),
        }
        if keep_shape and request.source_size is None:
            update["source_size"] = (infos[0].width, infos[0].height)
        return request.model_copy(update=update)

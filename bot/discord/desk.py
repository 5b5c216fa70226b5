"""Where every door (slash command, reply, context menu, button) hands a job to the engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import discord

from bot.core.errors import RequestValidationError
from bot.core.job import DoorContext, Job, JobKind, JobOrigin, JobSpec
from bot.core.localizable import N_
from bot.core.request import GenerationRequest
from bot.discord.attachments import ReferenceChecker
from bot.discord.cards import Notify
from bot.discord.checks import check_post_permissions
from bot.discord.posting import DiscordPosting
from bot.jobs.engine import JobEngine
from bot.providers.base import ModelSpec, Provider
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
    ) -> None:
        self.jobs = jobs
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
    ) -> Job:
        """Check, reserve quota and queue the job; raise a user-safe error otherwise.

        The cheap refusals come first (permissions, count, then, when there are
        ``attachments``, the quota rules as a dry run); only then are the attachments
        downloaded and checked, becoming the request's reference images.
        """
        spec = await self.screen(
            door,
            kind=kind,
            origin=origin,
            request=request,
            parent_job_id=parent_job_id,
            dry_run=bool(attachments),
        )
        if attachments:
            references = await self.references(attachments, request.model)
            request = request.model_copy(update={"reference_images": references})
            spec = dataclasses.replace(spec, request=request)
        job = await self.jobs.create_job(spec)
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
        dry_run: bool = True,
    ) -> JobSpec:
        """The cheap refusals, before anything costly: permissions, count, and (``dry_run``)
        the quota rules without reserving. The job's spec when all pass."""
        check_post_permissions(
            bot=door.bot_permissions, member=door.member_permissions, thread=door.in_thread
        )
        if kind is not JobKind.REROLL and request.count > self.max_count:
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

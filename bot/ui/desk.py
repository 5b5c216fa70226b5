"""Where every door (slash command, reply, context menu, button) hands a job to the engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.admission import Admission
from bot.core.errors import PermissionDeniedError, RequestValidationError
from bot.core.job import Job, JobKind, JobOrigin, JobSpec
from bot.core.request import GenerationRequest
from bot.providers.base import ModelSpec, Provider
from bot.tree import permission_names
from bot.ui.attachments import ReferenceChecker

if TYPE_CHECKING:
    from bot.jobs.engine import JobEngine
    from bot.ui.delivery import DiscordDelivery


@dataclass(frozen=True)
class DoorContext:
    """What the door knew that the ledger does not keep."""

    upload_limit: int | None = None
    reply_to: int | None = None
    #: sends the member a private note (an interaction followup while its token lives)
    notify: Callable[[str], Awaitable[object]] | None = None


#: Read by the delivery when the engine announces the job (inside ``create_job``), so the
#: very first card already replies to the right message.
current_door: ContextVar[DoorContext | None] = ContextVar("current_door", default=None)

REQUIRED = ("view_channel", "send_messages", "embed_links", "attach_files")
#: what the member needs: a job posts where they asked, so they must be able to post there
MEMBER_REQUIRED = ("send_messages", "embed_links", "attach_files")


def missing_post_permissions(
    permissions: discord.Permissions, *, thread: bool, needed: Sequence[str] = REQUIRED
) -> list[str]:
    """The permissions missing to post cards and results in a channel (the bot's by default).

    In a thread, "Send Messages in Threads" stands in for "Send Messages".
    """
    wanted = [
        "send_messages_in_threads" if thread and name == "send_messages" else name
        for name in needed
    ]
    return [name for name in wanted if not getattr(permissions, name)]


def check_post_permissions(
    *, bot: discord.Permissions, member: discord.Permissions, thread: bool
) -> None:
    """Refuse unless both the bot and the member may post results here."""
    missing = missing_post_permissions(bot, thread=thread)
    if missing:
        raise PermissionDeniedError(
            f"I can't post results in this channel: I need {permission_names(missing)}. "
            "Nothing was charged."
        )
    missing = missing_post_permissions(member, thread=thread, needed=MEMBER_REQUIRED)
    if missing:
        raise PermissionDeniedError(
            f"You can't post images in this channel, so I won't post them for you here: "
            f"you need {permission_names(missing)}. Nothing was charged."
        )


class JobDesk:
    """Checks what only Discord knows, then asks the engine for the job."""

    def __init__(
        self,
        engine: JobEngine,
        delivery: DiscordDelivery,
        providers: Sequence[Provider],
        *,
        max_count: int,
    ) -> None:
        self.engine = engine
        self.delivery = delivery
        self.providers = list(providers)
        self.max_count = max_count
        self.admission = Admission(engine.quota)
        #: one for the whole bot: its limiter bounds image checks bot-wide
        self.reference_checker = ReferenceChecker()

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
        *,
        member: discord.Member,
        channel_id: int,
        bot_permissions: discord.Permissions,
        member_permissions: discord.Permissions,
        in_thread: bool,
        kind: JobKind,
        origin: JobOrigin,
        request: GenerationRequest,
        attachments: Sequence[discord.Attachment] = (),
        parent_job_id: str | None = None,
        door: DoorContext | None = None,
    ) -> Job:
        """Check, reserve quota and queue the job; raise a user-safe error otherwise.

        The cheap refusals come first (permissions, count, then, when there are
        ``attachments``, the quota rules as a dry run); only then are the attachments
        downloaded and checked, becoming the request's reference images.
        """
        spec = await self.screen(
            member=member,
            channel_id=channel_id,
            bot_permissions=bot_permissions,
            member_permissions=member_permissions,
            in_thread=in_thread,
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
        token = current_door.set(door)
        try:
            job = await self.engine.create_job(spec)
        finally:
            current_door.reset(token)
        if door is not None:
            self.delivery.remember(job.id, door)
        return job

    async def screen(
        self,
        *,
        member: discord.Member,
        channel_id: int,
        bot_permissions: discord.Permissions,
        member_permissions: discord.Permissions,
        in_thread: bool,
        kind: JobKind,
        origin: JobOrigin,
        request: GenerationRequest,
        parent_job_id: str | None = None,
        door: DoorContext | None = None,
        dry_run: bool = True,
    ) -> JobSpec:
        """The cheap refusals, before anything costly: permissions, count, and (``dry_run``)
        the quota rules without reserving. The job's spec when all pass."""
        del door  # accepted so a door's keyword arguments fit both screen and start
        check_post_permissions(bot=bot_permissions, member=member_permissions, thread=in_thread)
        if kind is not JobKind.REROLL and request.count > self.max_count:
            raise RequestValidationError("count", f"must be between 1 and {self.max_count}.")
        spec = JobSpec(
            guild_id=member.guild.id,
            channel_id=channel_id,
            user_id=member.id,
            role_ids=tuple(role.id for role in member.roles),
            kind=kind,
            origin=origin,
            request=request,
            parent_job_id=parent_job_id,
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

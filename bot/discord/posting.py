"""The Discord side of a job: its card (posted, then edited at most every 3 s) and its results.

Implements the engine's ``EventSink`` and ``Deliverer``. Everything goes through regular
channel messages addressed by id, so a job that outlives the 15-minute interaction token
still delivers, and a restart can pick up any card again.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import discord

from bot.core.errors import ImageError, SeedreamError
from bot.core.job import Job, StoredImage
from bot.discord import render
from bot.discord.views import card_view, result_view
from bot.images.fit import FittedImage, batch_for_messages, fit_images_async, refit_smaller_async
from bot.jobs.delivery import DeliveryError, PostedCallback
from bot.jobs.events import (
    JobCancelled,
    JobDelivered,
    JobDeliveryDelayed,
    JobEvent,
    JobFailed,
    JobPositionChanged,
    JobQueued,
    JobRunning,
)
from bot.providers.base import Provider

log = logging.getLogger(__name__)

#: Discord's default upload limit, used when neither interaction nor guild says better
DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
CARD_EDIT_INTERVAL = 3.0
#: how many times a 413 from Discord leads to a smaller encoding before giving up
MAX_REFITS = 4

#: ``await record_card(job_id, message_id)`` once a job's card is posted
RecordCard = Callable[[str, int], Awaitable[object]]
#: ``await notify(text)`` tells the member privately (``bot.discord.replies``)
Notify = Callable[[str], Awaitable[object]]
#: failures to reach Discord at all (dropped connection, timeout), besides its HTTP answers
NETWORK_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)


@dataclass
class _Card:
    """What we know of one job's card in this process."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    message_id: int | None = None
    last_edit: float = 0.0
    pending: discord.Embed | None = None
    timer: asyncio.Task[None] | None = None
    #: how to reach the member who asked (set by the desk; lost at a restart)
    notify: Notify | None = None


class DiscordPosting:
    """Posts and edits job cards and results through the bot's REST client."""

    def __init__(
        self,
        client: discord.Client,
        record_card: RecordCard,
        providers: Sequence[Provider] = (),
        *,
        edit_interval: float = CARD_EDIT_INTERVAL,
    ) -> None:
        self._client = client
        self._providers = {provider.name: provider for provider in providers}
        self._record_card = record_card
        self._edit_interval = edit_interval
        self._cards: dict[str, _Card] = {}

    # ------------------------------------------------------------------ context from doors

    def remember(self, job_id: str, notify: Notify) -> None:
        """How to reach the member who asked for the job, while this process lives."""
        self._card(job_id).notify = notify

    # ------------------------------------------------------------------------- EventSink

    async def on_event(self, event: JobEvent) -> None:
        """Keep the card in step with the job."""
        job = event.job
        if isinstance(event, JobQueued):
            await self._ensure_card(job, render.card_embed(job, position=event.position))
        elif isinstance(event, JobPositionChanged):
            self._throttled(job, render.card_embed(job, position=event.position))
        elif isinstance(event, JobRunning):
            self._throttled(job, render.card_embed(job, progress=event.progress))
        elif isinstance(event, JobFailed):
            shown = await self._final(job, render.failure_embed(job, refunded=event.refunded))
            if not shown:
                await self._tell_member(job, render.failure_text(job, event.reason, event.refunded))
            self._forget(job.id)
        elif isinstance(event, JobCancelled):
            await self._final(job, render.cancelled_embed(job))
            self._forget(job.id)
        elif isinstance(event, JobDeliveryDelayed):
            await self._delayed(job, render.delayed_embed(job, event.retry_until))
        elif isinstance(event, JobDelivered):
            self._forget(job.id)

    # ------------------------------------------------------------------------- Deliverer

    async def deliver(
        self, job: Job, images: Sequence[StoredImage], posted: PostedCallback
    ) -> list[int]:
        """Fit the images under the upload limit and post them, the first batch in the card.

        The card is edited last: it announces the result, and the record of its batch is
        the one that settles the job, so by the time the card says "delivered" every other
        message is out and recorded.
        """
        card = self._card_of(job)
        limit = job.door.upload_limit or self._guild_limit(job.guild_id)
        fitted = await fit_images_async(
            [image.data for image in images], limit, stem=f"seedream-{job.id.lower()}"
        )
        batches: list[tuple[list[FittedImage], Sequence[StoredImage]]] = []
        start = 0
        for group in batch_for_messages(fitted):
            batches.append((group, images[start : start + len(group)]))
            start += len(group)
        # The card carries the first batch unless an earlier run already put images in it.
        card_free = not _carries_images(job, card.message_id)
        if card_free:
            batches = batches[1:] + batches[:1]  # the announcement goes out last
        message_ids: list[int] = []
        async with card.lock:
            self._cancel_timer(card)
            for number, (group, sources) in enumerate(batches):
                announces = card_free and number == len(batches) - 1
                message_id = await self._post_batch(job, card, group, sources, in_card=announces)
                message_ids.append(message_id)
                await posted(message_id, [image.index for image in sources])
        return message_ids

    # ---------------------------------------------------------------------------- internals

    def _card(self, job_id: str) -> _Card:
        return self._cards.setdefault(job_id, _Card())

    def _card_of(self, job: Job) -> _Card:
        """The job's card; after a restart, the one the ledger remembers (not a new one)."""
        card = self._card(job.id)
        if card.message_id is None:
            card.message_id = job.card_message_id
        return card

    def _forget(self, job_id: str) -> None:
        card = self._cards.pop(job_id, None)
        if card is not None:
            self._cancel_timer(card)

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    def _model_used(self, job: Job) -> str | None:
        """The serving provider's id of the model (a request may leave it to the default)."""
        provider = self._providers.get(job.provider or "")
        if provider is None:
            return job.request.model
        try:
            return provider.capabilities.model(job.request.model).id
        except SeedreamError:
            return job.request.model

    def _provider_label(self, job: Job) -> str | None:
        provider = self._providers.get(job.provider or "")
        return provider.display_name if provider is not None else job.provider

    def _guild_limit(self, guild_id: int) -> int:
        guild = self._client.get_guild(guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    async def _ensure_card(self, job: Job, embed: discord.Embed) -> None:
        card = self._card(job.id)
        async with card.lock:
            if card.message_id is None:
                card.message_id = job.card_message_id
            if card.message_id is not None:
                await self._edit(job, card, embed)
                return
            reference = None
            if job.door.reply_to is not None:
                reference = discord.MessageReference(
                    message_id=job.door.reply_to,
                    channel_id=job.channel_id,
                    fail_if_not_exists=False,
                )
            try:
                # The nonce makes Discord return the first card if a crash right after
                # this send makes a restarted bot post it again.
                message = await self._channel(job).send(
                    embed=embed,
                    view=card_view(job.id),
                    reference=reference,  # type: ignore[arg-type]
                    nonce=f"card-{job.id}",
                )
            except discord.HTTPException as exc:
                log.warning("Job %s: could not post its card (%s)", job.id, exc.status)
                return
            except (*NETWORK_ERRORS, discord.RateLimited) as exc:
                log.warning("Job %s: could not post its card (%s)", job.id, type(exc).__name__)
                return
            card.message_id = message.id
            card.last_edit = time.monotonic()
            await self._record_card(job.id, message.id)

    def _throttled(self, job: Job, embed: discord.Embed) -> None:
        card = self._card_of(job)
        card.pending = embed
        if card.timer is not None and not card.timer.done():
            return
        wait = max(0.0, card.last_edit + self._edit_interval - time.monotonic())
        card.timer = asyncio.create_task(self._flush(job, card, wait), name=f"card-{job.id}")

    async def _flush(self, job: Job, card: _Card, wait: float) -> None:
        await asyncio.sleep(wait)
        async with card.lock:
            embed, card.pending = card.pending, None
            if embed is not None:
                await self._edit(job, card, embed)

    async def _final(self, job: Job, embed: discord.Embed) -> bool:
        """Turn the card into its final state; False when the card could not show it."""
        card = self._card(job.id)
        shown = False
        async with card.lock:
            self._cancel_timer(card)
            card.message_id = card.message_id or job.card_message_id
            if card.message_id is not None:
                shown = await self._edit(job, card, embed, cancellable=False)
        return shown

    async def _delayed(self, job: Job, embed: discord.Embed) -> None:
        """Say on the card that delivery is delayed (unless it already carries images)."""
        card = self._card_of(job)
        async with card.lock:
            self._cancel_timer(card)
            if not _carries_images(job, card.message_id):
                await self._edit(job, card, embed, cancellable=False)

    async def _tell_member(self, job: Job, text: str) -> None:
        """The card is gone or unreachable: say it privately while the interaction lives."""
        card = self._cards.pop(job.id, None)
        notify = card.notify if card is not None else None
        if notify is None:
            return
        try:
            await notify(text)
        except discord.HTTPException as exc:
            log.info("Job %s: could not tell the member (%s)", job.id, exc.status)

    @staticmethod
    def _cancel_timer(card: _Card) -> None:
        if card.timer is not None and card.timer is not asyncio.current_task():
            card.timer.cancel()
        card.timer = None
        card.pending = None

    async def _edit(
        self,
        job: Job,
        card: _Card,
        embed: discord.Embed,
        *,
        cancellable: bool = True,
    ) -> bool:
        """Edit the card; True when Discord took the edit."""
        if card.message_id is None:
            return False
        # Only a waiting job can be cancelled; a final card loses its button.
        chosen = card_view(job.id) if cancellable else None
        message = self._channel(job).get_partial_message(card.message_id)
        try:
            await message.edit(embed=embed, view=chosen)
        except discord.HTTPException as exc:
            # A card someone deleted is not worth failing a job over.
            log.info("Job %s: card edit failed (%s)", job.id, exc.status)
            return False
        except (*NETWORK_ERRORS, discord.RateLimited) as exc:
            log.info("Job %s: card edit failed (%s)", job.id, type(exc).__name__)
            return False
        finally:
            card.last_edit = time.monotonic()
        return True

    async def _post_batch(
        self,
        job: Job,
        card: _Card,
        group: list[FittedImage],
        sources: Sequence[StoredImage],
        *,
        in_card: bool,
    ) -> int:
        embed = None
        if in_card or card.message_id is None:
            embed = render.result_embed(
                job, group, model=self._model_used(job), provider=self._provider_label(job)
            )
        for _ in range(MAX_REFITS + 1):
            files = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in group]
            try:
                return await self._send_files(
                    job, card, embed, files, in_card=in_card, nonce=f"{job.id}-{sources[0].index}"
                )
            except discord.RateLimited as exc:  # a 429 longer than discord.py will sleep
                raise DeliveryError(
                    "Discord is rate limiting the bot; retrying.", retryable=True
                ) from exc
            except NETWORK_ERRORS as exc:
                log.info("Job %s: posting failed: %s", job.id, type(exc).__name__)
                raise DeliveryError(
                    "Discord could not be reached; retrying.", retryable=True
                ) from exc
            except discord.HTTPException as exc:
                if not _too_large(exc):
                    raise _delivery_error(exc) from exc
                try:
                    group = await _shrink(group, sources)
                except ImageError as too_small:
                    raise DeliveryError(
                        "The images stayed too large for Discord.", retryable=False
                    ) from too_small
        raise DeliveryError("The images stayed too large for Discord.", retryable=False)

    async def _send_files(
        self,
        job: Job,
        card: _Card,
        embed: discord.Embed | None,
        files: list[discord.File],
        *,
        in_card: bool,
        nonce: str,
    ) -> int:
        channel = self._channel(job)
        if in_card and card.message_id is not None:
            try:
                message = channel.get_partial_message(card.message_id)
                await message.edit(embed=embed, attachments=files, view=result_view(job.id))
                card.last_edit = time.monotonic()
                return card.message_id
            except discord.NotFound:
                log.info("Job %s: card is gone; posting the result as a new message", job.id)
                for file in files:
                    file.reset()
        # A stable nonce per batch: a restart that re-posts it gets the first message back.
        kwargs: dict[str, object] = {"files": files, "view": result_view(job.id), "nonce": nonce}
        if embed is not None:
            kwargs["embed"] = embed
        sent = await channel.send(**kwargs)  # type: ignore[call-overload]
        return int(sent.id)


def _carries_images(job: Job, card_id: int | None) -> bool:
    """Whether an earlier run already posted images in the job's card."""
    return card_id is not None and any(
        image.message_id == card_id for image in job.images if image.delivered
    )


def _too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == 40005


async def _shrink(
    group: Sequence[FittedImage], sources: Sequence[StoredImage]
) -> list[FittedImage]:
    """The next rung down for every file of a batch Discord refused as too large."""
    return list(
        await asyncio.gather(
            *(
                refit_smaller_async(
                    source.data, fitted, filename_stem=fitted.filename.rsplit(".", 1)[0]
                )
                for fitted, source in zip(group, sources, strict=True)
            )
        )
    )


def _delivery_error(exc: discord.HTTPException) -> DeliveryError:
    if isinstance(exc, discord.Forbidden | discord.NotFound):
        return DeliveryError(
            "I can no longer post in that channel (missing permission or deleted).",
            retryable=False,
        )
    return DeliveryError("Discord did not accept the images; retrying.", retryable=True)

"""A job's card in Discord: posted once, edited at most every 3 s, then put in its final state.

Cards are regular channel messages addressed by id, so a job that outlives the 15-minute
interaction token keeps its card, and a restart picks up the one the ledger remembers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import discord

from bot.core.job import Job
from bot.discord.languages import server_texts
from bot.discord.views import card_view

log = logging.getLogger(__name__)

CARD_EDIT_INTERVAL = 3.0

#: ``await record_card(job_id, message_id)`` once a job's card is posted
RecordCard = Callable[[str, int], Awaitable[object]]
#: ``await notify(text)`` tells the member privately (``bot.discord.replies``)
Notify = Callable[[str], Awaitable[object]]
#: failures to reach Discord at all (dropped connection, timeout), besides its HTTP answers
NETWORK_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)


@dataclass
class Card:
    """What we know of one job's card in this process."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    message_id: int | None = None
    last_edit: float = 0.0
    pending: discord.Embed | None = None
    timer: asyncio.Task[None] | None = None
    #: how to reach the member who asked (set by the desk; lost at a restart)
    notify: Notify | None = None


class CardBoard:
    """The cards of the jobs this process is following, posted and edited by message id."""

    def __init__(
        self,
        client: discord.Client,
        record_card: RecordCard,
        *,
        edit_interval: float = CARD_EDIT_INTERVAL,
    ) -> None:
        self._client = client
        self._record_card = record_card
        self._edit_interval = edit_interval
        self._cards: dict[str, Card] = {}

    def card(self, job_id: str) -> Card:
        """The job's card state in this process (created empty on first use)."""
        return self._cards.setdefault(job_id, Card())

    def card_of(self, job: Job) -> Card:
        """The job's card; after a restart, the one the ledger remembers (not a new one)."""
        card = self.card(job.id)
        if card.message_id is None:
            card.message_id = job.card_message_id
        return card

    def forget(self, job_id: str) -> None:
        """Drop the job's card state and any edit still pending."""
        card = self._cards.pop(job_id, None)
        if card is not None:
            self.cancel_timer(card)

    def channel(self, job: Job) -> discord.PartialMessageable:
        """The job's channel, addressed by id (no cache or interaction needed)."""
        return self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def ensure(self, job: Job, embed: discord.Embed) -> None:
        """Post the job's card, or edit it when it already exists."""
        card = self.card(job.id)
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
                message = await self.channel(job).send(
                    embed=embed,
                    view=card_view(job.id, server_texts(self._client, job.guild_id)),
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

    def throttled(self, job: Job, embed: discord.Embed) -> None:
        """Show ``embed`` on the card at the next edit slot; a newer one replaces it."""
        card = self.card_of(job)
        card.pending = embed
        if card.timer is not None and not card.timer.done():
            return
        wait = max(0.0, card.last_edit + self._edit_interval - time.monotonic())
        card.timer = asyncio.create_task(self._flush(job, card, wait), name=f"card-{job.id}")

    async def _flush(self, job: Job, card: Card, wait: float) -> None:
        await asyncio.sleep(wait)
        async with card.lock:
            embed, card.pending = card.pending, None
            if embed is not None:
                await self._edit(job, card, embed)

    async def final(self, job: Job, embed: discord.Embed) -> bool:
        """Turn the card into its final state; False when the card could not show it."""
        card = self.card(job.id)
        shown = False
        async with card.lock:
            self.cancel_timer(card)
            card.message_id = card.message_id or job.card_message_id
            if card.message_id is not None:
                shown = await self._edit(job, card, embed, cancellable=False)
        return shown

    async def delayed(self, job: Job, embed: discord.Embed) -> None:
        """Say on the card that delivery is delayed (unless it already carries images)."""
        card = self.card_of(job)
        async with card.lock:
            self.cancel_timer(card)
            if not carries_images(job, card.message_id):
                await self._edit(job, card, embed, cancellable=False)

    async def tell_member(self, job: Job, text: str) -> None:
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
    def cancel_timer(card: Card) -> None:
        """Drop the card's pending throttled edit (unless it is the one running)."""
        if card.timer is not None and card.timer is not asyncio.current_task():
            card.timer.cancel()
        card.timer = None
        card.pending = None

    async def _edit(
        self,
        job: Job,
        card: Card,
        embed: discord.Embed,
        *,
        cancellable: bool = True,
    ) -> bool:
        """Edit the card; True when Discord took the edit."""
        if card.message_id is None:
            return False
        # Only a waiting job can be cancelled; a final card loses its button.
        texts = server_texts(self._client, job.guild_id)
        chosen = card_view(job.id, texts) if cancellable else None
        message = self.channel(job).get_partial_message(card.message_id)
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


def carries_images(job: Job, card_id: int | None) -> bool:
    """Whether an earlier run already posted images in the job's card."""
    return card_id is not None and any(
        image.message_id == card_id for image in job.images if image.delivered
    )

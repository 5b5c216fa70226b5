"""What moderators see: confirmations, mod-log records, quota and usage reports, the blocklist.

Everything except the last section is a pure function of domain values. The last section is
the Discord glue the moderator cogs (``/quota``, ``/blocklist``) share: posting a record to
the guild's mod-log channel (the moderator gate is ``bot.discord.checks``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord

from bot.core.job import Job
from bot.discord import render
from bot.discord.languages import guild_texts, member_texts
from bot.i18n.catalogs import ENGLISH
from bot.i18n.texts import Texts
from bot.quotas.rules import QuotaStatus

Interaction = discord.Interaction[Any]

log = logging.getLogger(__name__)

COLOUR_MODLOG = discord.Colour.orange()
COLOUR_REPORT = discord.Colour.blurple()
#: replies and records name members and roles without pinging them
NO_MENTIONS = discord.AllowedMentions.none()
#: an embed description holds 4096 characters; longer lists go out as a file
LIST_LIMIT = 3800
REASON_LIMIT = 1000
RECENT_JOBS = 5


#: a value worded in the reader's language (``10/day``, ``default``, ``blocked``)
Word = Callable[[Texts], str]


@dataclass(frozen=True)
class ModAction:
    """One moderator action, ready to confirm to the moderator and post to the mod log.

    ``title`` is a catalog message; ``target`` (a mention, the server or a spoilered term)
    and ``before``/``after`` are worded per reader: the moderator reads the confirmation in
    their language, the mod-log channel in the server's. A plain string is shown as is.
    """

    title: str
    actor_id: int
    target: str | Word
    before: str | Word
    after: str | Word
    reason: str | None
    audit_id: int
    changed: bool


def worded(value: str | Word, texts: Texts) -> str:
    """A ModAction value for this reader."""
    return value if isinstance(value, str) else value(texts)


# ------------------------------------------------------------------ wording of values


def per_day(value: int | None, unset: str, texts: Texts = ENGLISH.default) -> str:
    """An allowance or budget: ``5/day``, or what None means for this setting (a message)."""
    return texts._(unset) if value is None else texts._("{count}/day", count=value)


def credits(value: int, texts: Texts = ENGLISH.default) -> str:
    """Bonus credits."""
    return texts.ngettext("{count} credit", "{count} credits", value)


def used(value: int, texts: Texts = ENGLISH.default) -> str:
    """Images counted against today's allowance."""
    return texts._("{count} used", count=value)


def blocked(value: bool, texts: Texts = ENGLISH.default) -> str:
    """A member's block flag."""
    return texts._("blocked") if value else texts._("not blocked")


def listed(value: bool, texts: Texts = ENGLISH.default) -> str:
    """Whether a term is on the blocklist."""
    return texts._("listed") if value else texts._("not listed")


def channel(value: int | None, texts: Texts = ENGLISH.default) -> str:
    """The mod-log channel."""
    return texts._("off") if value is None else f"<#{value}>"


def term(value: str) -> str:
    """A blocked term, hidden behind a spoiler and with Markdown neutralised."""
    return f"||{discord.utils.escape_markdown(value)}||"


# ------------------------------------------------------------------ confirmations and records


def confirmation(action: ModAction, texts: Texts = ENGLISH.default) -> str:
    """The moderator's ephemeral answer."""
    subject = f"{texts._(action.title)} · {worded(action.target, texts)}"
    after = worded(action.after, texts)
    if not action.changed:
        return texts._("No change: {subject} is already {after}.", subject=subject, after=after)
    before = worded(action.before, texts)
    return texts._("{subject}: {before} → {after}.", subject=subject, before=before, after=after)


def modlog_embed(
    action: ModAction, when: datetime, texts: Texts = ENGLISH.default
) -> discord.Embed:
    """The public record in the mod-log channel: who, what, before → after, reason."""
    embed = discord.Embed(title=texts._(action.title), colour=COLOUR_MODLOG, timestamp=when)
    embed.add_field(name=texts._("Moderator"), value=f"<@{action.actor_id}>")
    embed.add_field(name=texts._("Target"), value=worded(action.target, texts))
    before, after = worded(action.before, texts), worded(action.after, texts)
    change = (
        f"{before} → {after}" if action.changed else texts._("{after} (no change)", after=after)
    )
    embed.add_field(name=texts._("Change"), value=change)
    reason = _shorten(action.reason or "—", REASON_LIMIT)
    embed.add_field(name=texts._("Reason"), value=reason, inline=False)
    embed.set_footer(text=texts._("Audit #{audit_id}", audit_id=str(action.audit_id)))
    return embed


# ------------------------------------------------------------------ reports


def quota_embed(
    target: str, status: QuotaStatus, jobs: Sequence[Job], texts: Texts = ENGLISH.default
) -> discord.Embed:
    """``/quota show``: a member's allowance, use, bonus, block flag and last jobs."""
    embed = discord.Embed(title=texts._("Quota"), description=target, colour=COLOUR_REPORT)
    embed.add_field(
        name=texts._("Allowance"),
        value=texts._(
            "{count}/day ({origin})",
            count=status.daily_allowance,
            origin=allowance_origin(status, texts),
        ),
    )
    embed.add_field(name=texts._("Used today"), value=texts.number(status.used_today))
    embed.add_field(name=texts._("Left today"), value=texts.number(status.remaining_today))
    embed.add_field(name=texts._("Bonus credits"), value=texts.number(status.bonus))
    embed.add_field(
        name=texts._("Blocked"), value=texts._("yes") if status.blocked else texts._("no")
    )
    embed.add_field(name=texts._("Resets"), value=render.timestamp(status.reset_at))
    lines = [
        f"`{job.id}` {render.progress_line(job, texts)} · {render.cost_text(job, texts)} · "
        f"{render.timestamp(job.created_at)} · {render.short_prompt(job.request.prompt, 60)}"
        for job in jobs[:RECENT_JOBS]
    ]
    embed.add_field(
        name=texts._("Last jobs"), value="\n".join(lines) or texts._("None yet."), inline=False
    )
    return embed


def allowance_origin(status: QuotaStatus, texts: Texts = ENGLISH.default) -> str:
    """Where a member's allowance comes from, in words."""
    if status.source == "member":
        return texts._("their own")
    if status.source == "role" and status.source_role_id is not None:
        mention = f"<@&{status.source_role_id}>"
        return texts._("role {role}", role=mention)
    return texts._("server default") if status.source == "server" else texts._("bot default")


def blocklist_reply(
    terms: Sequence[str], texts: Texts = ENGLISH.default
) -> tuple[discord.Embed, discord.File | None]:
    """``/blocklist list``: the terms in an embed, or in a text file when they don't fit."""
    embed = discord.Embed(title=texts._("Blocked prompt terms"), colour=COLOUR_REPORT)
    if not terms:
        embed.description = texts._("None. Add one with `/blocklist add`.")
        return embed, None
    shown = ", ".join(f"`{t}`" for t in terms)
    count = texts.ngettext("{count} term", "{count} terms", len(terms))
    embed.set_footer(
        text=texts._("{terms} · whole words, any case or look-alike spelling", terms=count)
    )
    if len(shown) <= LIST_LIMIT:
        embed.description = shown
        return embed, None
    embed.description = texts._(
        "{terms}: too many to show here, see the attached file.", terms=count
    )
    data = "\n".join(terms).encode() + b"\n"
    return embed, discord.File(io.BytesIO(data), filename="blocklist.txt")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ Discord glue


async def post_modlog(client: discord.Client, channel_id: int, embed: discord.Embed) -> bool:
    """Post a record in the mod-log channel; False (and a warning in the log) on failure.

    The change it records is already committed: a failed post never undoes it.
    """
    target = client.get_partial_messageable(channel_id, type=discord.ChannelType.text)
    try:
        await target.send(embed=embed, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as error:
        log.warning(
            "Could not post to mod-log channel %s: %s %s", channel_id, error.status, error.text
        )
        return False
    except Exception:
        # Never let a broken post read as a failed change: the audit row is already written.
        log.exception("Could not post to mod-log channel %s", channel_id)
        return False
    return True


async def reply_and_record(
    interaction: Interaction, action: ModAction, modlog_channel_id: int | None
) -> None:
    """Confirm to the moderator (ephemeral), then post the record if a mod log is set.

    When the post fails the moderator is told so in a follow-up; the change stands.
    """
    texts = member_texts(interaction)
    await interaction.response.send_message(
        confirmation(action, texts), ephemeral=True, allowed_mentions=NO_MENTIONS
    )
    if modlog_channel_id is None:
        return
    embed = modlog_embed(action, discord.utils.utcnow(), guild_texts(interaction))
    if not await post_modlog(interaction.client, modlog_channel_id, embed):
        await interaction.followup.send(
            texts._(
                "Saved, but I could not post it in {channel}: "
                "check that I can send messages and embeds there.",
                channel=channel(modlog_channel_id, texts),
            ),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

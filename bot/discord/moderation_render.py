"""What moderators see: confirmations, mod-log records, quota and usage reports, the blocklist.

Everything except the last section is a pure function of domain values. The last section is
the Discord glue the moderator cogs (``/quota``, ``/blocklist``) share: posting a record to
the guild's mod-log channel (the moderator gate is ``bot.discord.checks``).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord

from bot.core.accounts import UsageReport
from bot.core.job import Job
from bot.discord import render
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


@dataclass(frozen=True)
class ModAction:
    """One moderator action, ready to confirm to the moderator and post to the mod log.

    ``target`` is a mention, ``the server`` or a spoilered term; ``before``/``after`` are
    already worded (``10/day``, ``default``, ``blocked``).
    """

    title: str
    actor_id: int
    target: str
    before: str
    after: str
    reason: str | None
    audit_id: int
    changed: bool


# ------------------------------------------------------------------ wording of values


def per_day(value: int | None, unset: str) -> str:
    """An allowance or budget: ``5/day``, or what None means for this setting."""
    return unset if value is None else f"{value}/day"


def credits(value: int) -> str:
    """Bonus credits."""
    return f"{value} credit" if value == 1 else f"{value} credits"


def used(value: int) -> str:
    """Images counted against today's allowance."""
    return f"{value} used"


def blocked(value: bool) -> str:
    """A member's block flag."""
    return "blocked" if value else "not blocked"


def listed(value: bool) -> str:
    """Whether a term is on the blocklist."""
    return "listed" if value else "not listed"


def channel(value: int | None) -> str:
    """The mod-log channel."""
    return "off" if value is None else f"<#{value}>"


def term(value: str) -> str:
    """A blocked term, hidden behind a spoiler and with Markdown neutralised."""
    return f"||{discord.utils.escape_markdown(value)}||"


# ------------------------------------------------------------------ confirmations and records


def confirmation(action: ModAction) -> str:
    """The moderator's ephemeral answer."""
    subject = f"{action.title} · {action.target}"
    if not action.changed:
        return f"No change: {subject} is already {action.after}."
    return f"{subject}: {action.before} → {action.after}."


def modlog_embed(action: ModAction, when: datetime) -> discord.Embed:
    """The public record in the mod-log channel: who, what, before → after, reason."""
    embed = discord.Embed(title=action.title, colour=COLOUR_MODLOG, timestamp=when)
    embed.add_field(name="Moderator", value=f"<@{action.actor_id}>")
    embed.add_field(name="Target", value=action.target)
    change = (
        f"{action.before} → {action.after}" if action.changed else f"{action.after} (no change)"
    )
    embed.add_field(name="Change", value=change)
    embed.add_field(name="Reason", value=_shorten(action.reason or "—", REASON_LIMIT), inline=False)
    embed.set_footer(text=f"Audit #{action.audit_id}")
    return embed


# ------------------------------------------------------------------ reports


def quota_embed(target: str, status: QuotaStatus, jobs: Sequence[Job]) -> discord.Embed:
    """``/quota show``: a member's allowance, use, bonus, block flag and last jobs."""
    embed = discord.Embed(title="Quota", description=target, colour=COLOUR_REPORT)
    embed.add_field(
        name="Allowance", value=f"{status.daily_allowance}/day ({allowance_origin(status)})"
    )
    embed.add_field(name="Used today", value=str(status.used_today))
    embed.add_field(name="Left today", value=str(status.remaining_today))
    embed.add_field(name="Bonus credits", value=str(status.bonus))
    embed.add_field(name="Blocked", value="yes" if status.blocked else "no")
    embed.add_field(name="Resets", value=render.timestamp(status.reset_at))
    lines = [
        f"`{job.id}` {render.progress_line(job)} · {render.cost_text(job)} · "
        f"{render.timestamp(job.created_at)} · {render.short_prompt(job.request.prompt, 60)}"
        for job in jobs[:RECENT_JOBS]
    ]
    embed.add_field(name="Last jobs", value="\n".join(lines) or "None yet.", inline=False)
    return embed


def allowance_origin(status: QuotaStatus) -> str:
    """Where a member's allowance comes from, in words."""
    if status.source == "member":
        return "their own"
    if status.source == "role" and status.source_role_id is not None:
        return f"role <@&{status.source_role_id}>"
    return "server default" if status.source == "server" else "bot default"


def usage_embed(report: UsageReport) -> discord.Embed:
    """``/quota usage``: totals, top members and providers over the period."""
    days = "today" if report.days == 1 else f"the last {report.days} days"
    embed = discord.Embed(
        title="Image usage",
        description=f"Charged images over {days} (UTC days since {report.since:%Y-%m-%d}).",
        colour=COLOUR_REPORT,
    )
    totals = report.totals
    embed.add_field(name="Images", value=str(totals.images))
    embed.add_field(name="Jobs", value=str(totals.jobs))
    embed.add_field(name="Failed jobs", value=str(totals.failed))
    top = [
        f"{rank}. <@{user_id}> · {_images(images)}"
        for rank, (user_id, images) in enumerate(report.top_users, start=1)
    ]
    embed.add_field(name="Top members", value="\n".join(top) or "Nobody yet.", inline=False)
    providers = [
        f"`{name}` · {_images(t.images)} · {t.jobs} jobs · {t.failed} failed"
        for name, t in report.by_provider.items()
    ]
    embed.add_field(name="By provider", value="\n".join(providers) or "None yet.", inline=False)
    embed.set_footer(text="The attached CSV has the same figures.")
    return embed


USAGE_CSV_HEADER = ("section", "key", "images", "jobs", "failed")


def usage_csv(report: UsageReport) -> str:
    """The report as CSV: one ``total`` row, one row per provider, one per top member."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(USAGE_CSV_HEADER)
    totals = report.totals
    writer.writerow(
        ("total", f"since {report.since:%Y-%m-%d}", totals.images, totals.jobs, totals.failed)
    )
    for name, t in report.by_provider.items():
        writer.writerow(("provider", _csv_safe(name), t.images, t.jobs, t.failed))
    for user_id, images in report.top_users:
        writer.writerow(("user", user_id, images, "", ""))
    return buffer.getvalue()


def usage_file(report: UsageReport) -> discord.File:
    """The CSV as an attachment."""
    data = usage_csv(report).encode()
    name = f"usage-{report.since:%Y-%m-%d}-{report.days}d.csv"
    return discord.File(io.BytesIO(data), filename=name)


def blocklist_reply(terms: Sequence[str]) -> tuple[discord.Embed, discord.File | None]:
    """``/blocklist list``: the terms in an embed, or in a text file when they don't fit."""
    embed = discord.Embed(title="Blocked prompt terms", colour=COLOUR_REPORT)
    if not terms:
        embed.description = "None. Add one with `/blocklist add`."
        return embed, None
    shown = ", ".join(f"`{t}`" for t in terms)
    embed.set_footer(text=f"{len(terms)} terms · whole words, any case or look-alike spelling")
    if len(shown) <= LIST_LIMIT:
        embed.description = shown
        return embed, None
    embed.description = f"{len(terms)} terms: too many to show here, see the attached file."
    data = "\n".join(terms).encode() + b"\n"
    return embed, discord.File(io.BytesIO(data), filename="blocklist.txt")


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from reading a cell as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


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
    await interaction.response.send_message(
        confirmation(action), ephemeral=True, allowed_mentions=NO_MENTIONS
    )
    if modlog_channel_id is None:
        return
    embed = modlog_embed(action, discord.utils.utcnow())
    if not await post_modlog(interaction.client, modlog_channel_id, embed):
        await interaction.followup.send(
            f"Saved, but I could not post it in {channel(modlog_channel_id)}: "
            "check that I can send messages and embeds there.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

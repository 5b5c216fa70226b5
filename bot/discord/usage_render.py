"""``/quota usage``: the report as an embed, a CSV and a chart, in the moderator's language.

The chart (``bot.discord.usage_chart``) is drawn in a child process (``chart_process``):
matplotlib holds the GIL for 100-200 ms at a stretch, which the event loop must not wait on,
and its ~40 MiB never load in the bot.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import discord

from bot.core.accounts import UsageReport
from bot.discord import render
from bot.discord.chart_process import draw_in_child
from bot.discord.moderation_render import COLOUR_REPORT
from bot.i18n.catalogs import ENGLISH
from bot.i18n.texts import Texts


def usage_embed(report: UsageReport, texts: Texts = ENGLISH.default) -> discord.Embed:
    """``/quota usage``: totals, top members and providers over the period."""
    since = texts.date(report.since)
    description = (
        texts._("Charged images today (UTC day {since}).", since=since)
        if report.days == 1
        else texts._(
            "Charged images over the last {days} days (UTC days since {since}).",
            days=report.days,
            since=since,
        )
    )
    embed = discord.Embed(
        title=texts._("Image usage"), description=description, colour=COLOUR_REPORT
    )
    totals = report.totals
    embed.add_field(name=texts._("Images"), value=texts.number(totals.images))
    embed.add_field(name=texts._("Jobs"), value=texts.number(totals.jobs))
    embed.add_field(name=texts._("Failed jobs"), value=texts.number(totals.failed))
    top = [
        f"{rank}. <@{user_id}> · {render.images_text(images, texts)}"
        for rank, (user_id, images) in enumerate(report.top_users, start=1)
    ]
    embed.add_field(
        name=texts._("Top members"), value="\n".join(top) or texts._("Nobody yet."), inline=False
    )
    providers = [
        f"`{name}` · {render.images_text(t.images, texts)} · "
        + texts._("{jobs} jobs · {failed} failed", jobs=t.jobs, failed=t.failed)
        for name, t in report.by_provider.items()
    ]
    embed.add_field(
        name=texts._("By provider"),
        value="\n".join(providers) or texts._("None yet."),
        inline=False,
    )
    embed.set_footer(text=texts._("The attached chart and CSV have the same figures."))
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


async def usage_files(
    report: UsageReport, texts: Texts, *, budget: int | None, names: Mapping[int, str]
) -> list[discord.File]:
    """The chart (drawn off the event loop) and the CSV, ready to attach."""
    png = await draw_in_child(report, texts, budget=budget, names=names)
    stem = f"usage-{report.since:%Y-%m-%d}-{report.days}d"
    return [discord.File(io.BytesIO(png), filename=f"{stem}.png"), usage_file(report)]


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from reading a cell as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

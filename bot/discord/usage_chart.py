"""The ``/quota usage`` chart: images per UTC day stacked by provider, the server budget as a
line, and the top members as bars. A PNG rendered with matplotlib's Agg backend.

``usage_png`` is synchronous and CPU-bound; ``bot.discord.chart_process.draw_in_child`` runs
this module as a short-lived child process (``main``), so the bot never loads matplotlib; and
matplotlib holds the GIL for 100-200 ms at a stretch, which a worker thread would take from the
event loop (``bench/bench_usage_chart.py``). Figures are built with the object API (no pyplot
state).
The chart carries its own dark background, so it reads the same on Discord's dark and light
themes; the palette is Okabe-Ito (colour-blind safe) and every bar is labelled in text too.
"""

from __future__ import annotations

import io
import logging
import pickle
import sys
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from typing import Any

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.core.accounts import UsageReport
from bot.i18n.catalogs import ENGLISH, Catalogs
from bot.i18n.texts import Texts

log = logging.getLogger(__name__)

WIDTH, HEIGHT, DPI = 12.0, 8.0, 100  # 1200 × 800 pixels
SIZE_PX = (int(WIDTH * DPI), int(HEIGHT * DPI))
BACKGROUND, PANEL, TEXT, GRID = "#1e1f22", "#2b2d31", "#f2f3f5", "#4e5058"
BUDGET_COLOUR = "#ff6b6b"
PALETTE = ("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#0072b2", "#d55e00")
#: fonts with Chinese and Japanese glyphs, tried after DejaVu Sans (the Dockerfile installs
#: WenQuanYi Micro Hei)
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK JP", "Noto Sans CJK SC", "Droid Sans Fallback")
CJK_LANGUAGES = frozenset({"ja", "zh"})
#: matplotlib font properties
Font = dict[str, Any]


@cache
def cjk_fonts() -> tuple[str, ...]:
    """The installed fonts of ``CJK_FONTS``."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return tuple(name for name in CJK_FONTS if name in installed)


def chart_texts(texts: Texts) -> Texts:
    """The labels' language: the reader's, unless no installed font can draw it."""
    if texts.locale.language in CJK_LANGUAGES and not cjk_fonts():
        log.warning("No CJK font installed (fonts-wqy-microhei); the chart is labelled in English")
        return ENGLISH.default
    return texts


def usage_png(
    report: UsageReport, texts: Texts, *, budget: int | None, names: Mapping[int, str]
) -> bytes:
    """The chart as PNG bytes (``SIZE_PX``); ``names`` shows members by name, else by id."""
    texts = chart_texts(texts)
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor=BACKGROUND, layout="constrained")
    FigureCanvasAgg(figure)
    font: Font = {"family": ["DejaVu Sans", *cjk_fonts()]}
    daily, top = figure.subplots(2, 1, height_ratios=(3, 2))
    _daily(daily, report, texts, budget, font)
    _top(top, report, texts, names, font)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()


def usage_png_for(
    report: UsageReport, locale: str, budget: int | None, names: dict[int, str]
) -> bytes:
    """``usage_png`` with the locale's texts loaded here (what a child process runs)."""
    return usage_png(report, Catalogs([locale]).pick(locale), budget=budget, names=names)


def _days(report: UsageReport) -> list[date]:
    return [report.since + timedelta(days=offset) for offset in range(report.days)]


def _daily(axes: Axes, report: UsageReport, texts: Texts, budget: int | None, font: Font) -> None:
    days = _days(report)
    providers = sorted({provider for _, provider, _ in report.per_day})
    counts = {(day, provider): images for day, provider, images in report.per_day}
    positions = range(len(days))
    bottom = [0] * len(days)
    for index, provider in enumerate(providers):
        heights = [counts.get((day, provider), 0) for day in days]
        axes.bar(
            positions,
            heights,
            bottom=bottom,
            label=provider,
            color=PALETTE[index % len(PALETTE)],
            width=0.7,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if budget is not None:
        axes.axhline(
            budget,
            color=BUDGET_COLOUR,
            linewidth=2,
            linestyle="--",
            label=texts._("Server budget ({count}/day)", count=budget),
        )
    _style(axes, font)
    axes.set_title(texts._("Images per day, by provider"), color=TEXT, fontdict=font, loc="left")
    axes.set_ylabel(texts._("Images"), color=TEXT, fontdict=font)
    step = max(1, len(days) // 15)
    axes.set_xticks(
        list(positions)[::step], [texts.day(day) for day in days][::step], fontdict=font
    )
    axes.set_ylim(0, max([*bottom, budget or 0, 1]) * 1.15)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # images come whole
    if providers or budget is not None:
        legend = axes.legend(
            facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, prop=font, loc="upper left"
        )
        legend.get_frame().set_alpha(0.9)
    else:
        axes.text(
            0.5,
            0.5,
            texts._("No images yet."),
            color=TEXT,
            ha="center",
            transform=axes.transAxes,
            fontdict=font,
        )


def _top(
    axes: Axes, report: UsageReport, texts: Texts, names: Mapping[int, str], font: Font
) -> None:
    users = list(report.top_users)[::-1]  # most at the top
    labels = [names.get(user_id, str(user_id)) for user_id, _ in users]
    values = [images for _, images in users]
    bars = axes.barh(range(len(users)), values, color=PALETTE[0], height=0.6)
    axes.set_yticks(range(len(users)), labels, fontdict=font)
    for bar, value in zip(bars, values, strict=True):
        axes.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {texts.number(value)}",
            va="center",
            color=TEXT,
            fontdict=font,
        )
    _style(axes, font)
    axes.set_title(texts._("Top members"), color=TEXT, fontdict=font, loc="left")
    axes.set_xlabel(texts._("Images"), color=TEXT, fontdict=font)
    axes.set_xlim(0, max([*values, 1]) * 1.15)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not users:
        axes.text(
            0.5,
            0.5,
            texts._("Nobody yet."),
            color=TEXT,
            ha="center",
            transform=axes.transAxes,
            fontdict=font,
        )


def _style(axes: Axes, font: Font) -> None:
    axes.set_facecolor(PANEL)
    axes.tick_params(colors=TEXT, labelsize=10)
    axes.grid(axis="both", color=GRID, linewidth=0.5, alpha=0.6)
    axes.set_axisbelow(True)
    for spine in axes.spines.values():
        spine.set_color(GRID)


def main() -> None:
    """The child's entry point: pickled ``usage_png_for`` arguments on stdin, the PNG on stdout."""
    # the only writer is the bot's own draw_in_child, its parent process
    report, locale, budget, names = pickle.loads(sys.stdin.buffer.read())  # noqa: S301
    sys.stdout.buffer.write(usage_png_for(report, locale, budget, names))


if __name__ == "__main__":
    main()

"""The /quota usage chart: a real PNG of the expected size, the budget line only when set,
labels in the reader's language (English when no font can draw it)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image

from bot.core.accounts import UsageReport, UsageTotals
from bot.discord import usage_chart
from bot.discord.usage_chart import BUDGET_COLOUR, PALETTE, SIZE_PX, chart_texts, usage_png
from bot.i18n.catalogs import Catalogs

CATALOGS = Catalogs()
SINCE = date(2025, 3, 8)


def report(per_day: tuple[tuple[date, str, int], ...] = ()) -> UsageReport:
    return UsageReport(
        guild_id=1,
        since=SINCE,
        days=7,
        totals=UsageTotals(9, 5, 1),
        top_users=((5, 6), (6, 3)),
        by_provider={"poyo": UsageTotals(6, 3, 0), "ark": UsageTotals(3, 2, 1)},
        per_day=per_day,
    )


def colours(png: bytes) -> set[tuple[int, int, int]]:
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", SIZE_PX)
        return {rgb for _, rgb in image.convert("RGB").getcolors(SIZE_PX[0] * SIZE_PX[1])}


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


FULL = report(((SINCE, "ark", 3), (SINCE, "poyo", 2), (date(2025, 3, 10), "poyo", 4)))


def test_the_chart_is_a_png_with_a_stack_per_provider_and_the_budget_line() -> None:
    shown = colours(usage_png(FULL, CATALOGS.pick("de"), budget=5, names={5: "alice"}))
    # providers are stacked in palette order (sorted names: ark, then poyo)
    assert {rgb(PALETTE[0]), rgb(PALETTE[1])} <= shown
    assert rgb(BUDGET_COLOUR) in shown


def test_without_a_budget_there_is_no_budget_line() -> None:
    shown = colours(usage_png(FULL, CATALOGS.pick("en-US"), budget=None, names={}))
    assert rgb(BUDGET_COLOUR) not in shown


def test_an_empty_report_still_draws() -> None:
    empty = UsageReport(1, SINCE, 1, UsageTotals(0, 0, 0), (), {}, ())
    assert colours(usage_png(empty, CATALOGS.pick("ru"), budget=None, names={}))


@pytest.mark.parametrize("code", ["ja", "zh-CN"])
def test_cjk_labels_need_a_cjk_font(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = CATALOGS.pick(code)
    monkeypatch.setattr(usage_chart, "cjk_fonts", lambda: ())
    assert chart_texts(texts).code == "en-US"
    monkeypatch.setattr(usage_chart, "cjk_fonts", lambda: ("WenQuanYi Micro Hei",))
    assert chart_texts(texts) is texts
    assert chart_texts(CATALOGS.pick("ru")).code == "ru"  # DejaVu Sans has Cyrillic

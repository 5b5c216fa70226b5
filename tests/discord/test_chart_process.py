"""The usage chart is drawn in a child process, and the bot's own process never loads
matplotlib (about 40 MiB of resident memory it would otherwise hold for its whole life)."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date

import pytest
from PIL import Image

from bot.core.accounts import UsageReport, UsageTotals
from bot.discord import chart_process
from bot.discord.chart_process import ChartError, draw_in_child
from bot.discord.usage_chart import SIZE_PX
from bot.i18n.catalogs import Catalogs

REPORT = UsageReport(
    guild_id=1,
    since=date(2025, 3, 8),
    days=7,
    totals=UsageTotals(9, 5, 1),
    top_users=((5, 6),),
    by_provider={"poyo": UsageTotals(9, 5, 1)},
    per_day=((date(2025, 3, 9), "poyo", 9),),
)

# what the bot process imports: the launcher and every cog it loads
BOT_IMPORTS = """
import importlib, sys
import bot.launcher
from bot.discord.app import INITIAL_EXTENSIONS
for name in INITIAL_EXTENSIONS:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "numpy")))
"""


def test_the_bot_process_never_imports_matplotlib() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", BOT_IMPORTS], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


async def test_the_chart_comes_back_from_the_child_as_a_png() -> None:
    png = await draw_in_child(REPORT, Catalogs().pick("en-US"), budget=20, names={5: "Ada"})
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", SIZE_PX)


async def test_a_failing_child_raises_a_chart_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_process, "CHART_MODULE", "bot.no_such_chart_module")
    with pytest.raises(ChartError, match="No module named"):
        await draw_in_child(REPORT, Catalogs().pick("en-US"), budget=None, names={})

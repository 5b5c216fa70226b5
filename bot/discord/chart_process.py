"""Draws the ``/quota usage`` chart in a child process, so matplotlib never loads in the bot.

The child is ``python -m bot.discord.usage_chart``: the arguments go to it pickled on stdin and
the PNG comes back on stdout. The bot process itself never imports matplotlib (about 40 MiB of
resident memory it would hold for the rest of its life); the child exits once the chart is
drawn, so nothing stays in memory between reports either.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Mapping

from bot.core.accounts import UsageReport
from bot.i18n.texts import Texts

CHART_MODULE = "bot.discord.usage_chart"


class ChartError(RuntimeError):
    """The chart's child process failed (its stderr's last line is the message)."""


async def draw_in_child(
    report: UsageReport, texts: Texts, *, budget: int | None, names: Mapping[int, str]
) -> bytes:
    """``usage_png`` in a fresh child process, off the event loop and out of the bot's memory."""
    request = pickle.dumps((report, texts.code, budget, dict(names)))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        CHART_MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    png, errors = await child.communicate(request)
    if child.returncode != 0:
        lines = errors.decode(errors="replace").strip().splitlines() or ["no output"]
        raise ChartError(f"chart process exited with {child.returncode}: {lines[-1]}")
    return png

"""Image shapes as members type them: `W:H` ratios and `WIDTHxHEIGHT` sizes, parsed, snapped."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from bot.core.errors import RequestValidationError
from bot.core.localizable import N_

_RATIO = re.compile(r"(\d{1,5})\s*:\s*(\d{1,5})")
_SIZE = re.compile(r"(\d{1,5})\s*[xX×]\s*(\d{1,5})")
#: a source within 1 % of a preset ratio takes the preset (and its recommended sizes)
PRESET_TOLERANCE = 0.01


def parse_ratio(text: str) -> tuple[int, int]:
    """``"16:9"`` → ``(16, 9)``; any whole numbers; RequestValidationError otherwise."""
    match = _RATIO.fullmatch(text.strip())
    if match is None or 0 in (int(match[1]), int(match[2])):
        raise RequestValidationError(
            "ratio",
            N_("`{value}` is not a ratio; give W:H in whole numbers, e.g. 16:9 or 5:4."),
            value=text,
        )
    return int(match[1]), int(match[2])


def parse_size(text: str) -> tuple[int, int]:
    """``"2560x1440"`` → ``(2560, 1440)``; RequestValidationError (field ``size``) otherwise."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or 0 in (int(match[1]), int(match[2])):
        raise RequestValidationError(
            "size", N_("`{value}` is not WIDTHxHEIGHT, e.g. 2048x2048."), value=text
        )
    return int(match[1]), int(match[2])


def ratio_value(ratio: str) -> float:
    """Width over height of a ``W:H`` text."""
    across, down = parse_ratio(ratio)
    return across / down


def ratio_text(value: float) -> str:
    """``1/16`` → ``"1:16"``, ``16.0`` → ``"16:1"`` (for messages naming ratio bounds)."""
    if value >= 1:
        return f"{value:g}:1"
    return f"1:{1 / value:g}"


def nearest_ratio(width: int, height: int, offered: Sequence[str]) -> str:
    """The offered ratio closest to ``width:height`` (on a log scale: 2:1 and 1:2 are as far
    from 1:1)."""
    target = math.log(width / height)
    return min(offered, key=lambda ratio: abs(math.log(ratio_value(ratio)) - target))


def source_ratio(width: int, height: int, offered: Sequence[str]) -> str:
    """The ratio of a ``width``×``height`` source: an offered preset when within
    :data:`PRESET_TOLERANCE` of it, else the reduced ``W:H`` itself."""
    near = nearest_ratio(width, height, offered) if offered else None
    if near is not None and abs(ratio_value(near) / (width / height) - 1) <= PRESET_TOLERANCE:
        return near
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def fit_ratio(
    across: int, down: int, pixels: int, bounds: tuple[int, int] | None = None
) -> tuple[int, int]:
    """A ``W×H`` of ratio ``across:down`` near ``pixels`` in total, sides multiples of 8,
    kept within the inclusive pixel ``bounds``."""
    low, high = bounds or (1, pixels * 4)
    target = min(max(pixels, low), high)
    scale = math.sqrt(target / (across * down))
    width, height = across * scale, down * scale
    size = (max(8, round(width / 8) * 8), max(8, round(height / 8) * 8))
    if size[0] * size[1] > high:
        size = (max(8, math.floor(width / 8) * 8), max(8, math.floor(height / 8) * 8))
    elif size[0] * size[1] < low:
        size = (math.ceil(width / 8) * 8, math.ceil(height / 8) * 8)
    return size

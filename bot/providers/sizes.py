"""Ratio x tier → pixel tables, for providers that only take ``WIDTHxHEIGHT`` (PROVIDERS.md §9).

2K and 1K are BytePlus's recommended sizes; 4K are the published examples (portrait sizes
are the landscape ones transposed); 3K (Seedream 5.0) keeps about 3072² pixels.
"""

from __future__ import annotations

import math

from bot.core.request import ASPECT_RATIOS, GenerationRequest
from bot.core.shapes import fit_ratio, parse_ratio
from bot.providers.base import ModelSpec

Size = tuple[int, int]


def _with_portraits(landscape: dict[str, Size]) -> dict[str, Size]:
    table = dict(landscape)
    for ratio, (width, height) in landscape.items():
        across, down = ratio.split(":")
        if across != down and ratio != "21:9":
            table[f"{down}:{across}"] = (height, width)
    return table


TIER_SIZES: dict[str, dict[str, Size]] = {
    "1K": _with_portraits(
        {"1:1": (1024, 1024), "4:3": (1152, 864), "16:9": (1312, 736), "3:2": (1248, 832)}
        | {"21:9": (1568, 672)}
    ),
    "2K": _with_portraits(
        {"1:1": (2048, 2048), "4:3": (2304, 1728), "16:9": (2560, 1440), "3:2": (2496, 1664)}
        | {"21:9": (3024, 1296)}
    ),
    "3K": _with_portraits(
        {"1:1": (3072, 3072), "4:3": (3456, 2592), "16:9": (4096, 2304), "3:2": (3744, 2496)}
        | {"21:9": (4704, 2016)}
    ),
    "4K": _with_portraits(
        {"1:1": (4096, 4096), "4:3": (4694, 3520), "16:9": (5404, 3040), "3:2": (4992, 3328)}
        | {"21:9": (6198, 2656)}
    ),
}
#: Seedream 3.0 has no tiers; these are its recommended sizes (Pixazo page, Ark docs)
SEEDREAM3_SIZES: dict[str, Size] = _with_portraits(
    {"1:1": (1024, 1024), "4:3": (1152, 864), "16:9": (1280, 720), "3:2": (1248, 832)}
    | {"21:9": (1512, 648)}
)
assert all(set(table) == set(ASPECT_RATIOS) for table in TIER_SIZES.values())


def default_tier(spec: ModelSpec) -> str | None:
    """The tier a provider uses when none is asked for: 2K where offered."""
    if "2K" in spec.resolutions:
        return "2K"
    return spec.resolutions[0] if spec.resolutions else None


def preset_size(ratio: str | None, tier: str | None) -> Size:
    """Pixels for a ratio preset at a tier; ``tier=None`` means a tierless (3.0) model."""
    ratio = ratio or "1:1"
    if tier is None:
        return SEEDREAM3_SIZES[ratio]
    return TIER_SIZES[tier.upper()][ratio]


def ratio_size(ratio: str | None, tier: str | None, spec: ModelSpec) -> Size:
    """Pixels for any ratio at a tier: the recommended size of a preset, else the ratio at
    the tier's square's pixel count, within the model's pixel bounds."""
    ratio = ratio or "1:1"
    table = SEEDREAM3_SIZES if tier is None else TIER_SIZES[tier.upper()]
    if ratio in table:
        return table[ratio]
    square = table["1:1"]
    return fit_ratio(*parse_ratio(ratio), square[0] * square[1], spec.pixel_bounds)


def format_size(size: Size) -> str:
    """``(w, h)`` → ``"WxH"``."""
    return f"{size[0]}x{size[1]}"


def pixel_size(request: GenerationRequest, spec: ModelSpec) -> str:
    """Always a ``"WxH"``: the exact size, else ratio x tier with the model's defaults."""
    if request.exact_size is not None:
        return format_size(request.exact_size)
    tier = request.resolution or default_tier(spec)
    return format_size(ratio_size(request.aspect_ratio, tier, spec))


def tier_or_pixels(request: GenerationRequest, spec: ModelSpec) -> str | None:
    """Ark-style ``size``: a bare tier when only a tier is asked, else ``"WxH"``; None: default.

    Ark takes a tier *or* WxH; with a tier alone the ratio would come from the prompt, so a
    requested ratio is always turned into pixels.
    """
    if request.exact_size is None and request.aspect_ratio is None:
        return request.resolution
    return pixel_size(request, spec)


def request_pixels(request: GenerationRequest, spec: ModelSpec) -> int:
    """Pixels in one image of ``request`` (the exact size, else ratio x tier, else 2K square)."""
    if request.exact_size is not None:
        width, height = request.exact_size
        return width * height
    try:
        width, height = ratio_size(
            request.aspect_ratio, request.resolution or default_tier(spec), spec
        )
    except (KeyError, ValueError):  # a tier or ratio outside our tables (an unknown model)
        width, height = TIER_SIZES["2K"]["1:1"]
    return width * height


def tier_rank(tier: str) -> int:
    """``"4K"`` → 4: tiers compare by their number."""
    return int(tier.upper().rstrip("K") or 0)


def higher_tier(request: GenerationRequest, spec: ModelSpec) -> str | None:
    """The model's highest tier when it is above what ``request`` got (the 4K offer), else None.

    An exact size counts as its pixels against the highest tier at the same ratio preset.
    """
    if not spec.resolutions:
        return None
    top = max(spec.resolutions, key=tier_rank).upper()
    if top not in TIER_SIZES:
        return None
    if request.exact_size is not None:
        width, height = TIER_SIZES[top]["1:1"]
        return top if width * height > request_pixels(request, spec) else None
    used = request.resolution or default_tier(spec)
    return top if used is None or tier_rank(top) > tier_rank(used) else None


def nearest_ratio(width: int, height: int, ratios: tuple[str, ...] = ASPECT_RATIOS) -> str:
    """The preset ratio closest to ``width:height`` (compared as logarithms, so 2:1 and 1:2
    are as far from 1:1)."""

    def distance(ratio: str) -> float:
        across, down = (int(part) for part in ratio.split(":"))
        return abs(math.log((width / height) / (across / down)))

    return min(ratios or ASPECT_RATIOS, key=distance)

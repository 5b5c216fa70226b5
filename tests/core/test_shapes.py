"""W:H ratios and sizes: parsing, snapping to presets, fitting within pixel bounds."""

from __future__ import annotations

import pytest

from bot.core.errors import RequestValidationError
from bot.core.request import ASPECT_RATIOS
from bot.core.shapes import (
    fit_ratio,
    nearest_ratio,
    parse_ratio,
    parse_size,
    ratio_text,
    source_ratio,
)


def test_parse_ratio_and_size() -> None:
    assert parse_ratio(" 5 : 4 ") == (5, 4)
    assert parse_size("2560×1440") == (2560, 1440)
    for bad in ("wide", "0:1", "1.5:1", "16/9"):
        with pytest.raises(RequestValidationError) as caught:
            parse_ratio(bad)
        assert caught.value.field == "ratio"
    for bad in ("big", "0x10", "10x", "-5x5"):
        with pytest.raises(RequestValidationError) as caught:
            parse_size(bad)
        assert caught.value.field == "size"


def test_nearest_and_source_ratio() -> None:
    assert nearest_ratio(800, 600, ASPECT_RATIOS) == "4:3"
    assert nearest_ratio(1000, 700, ASPECT_RATIOS) == "3:2"
    assert nearest_ratio(600, 2000, ASPECT_RATIOS) == "9:16"
    assert source_ratio(1920, 1080, ASPECT_RATIOS) == "16:9"
    assert source_ratio(1001, 1000, ASPECT_RATIOS) == "1:1"  # within 1 %
    assert source_ratio(1000, 700, ASPECT_RATIOS) == "10:7"
    assert ratio_text(1 / 16) == "1:16"
    assert ratio_text(16.0) == "16:1"


@pytest.mark.parametrize("ratio", [(5, 4), (16, 1), (1, 16), (10, 7), (7, 3), (1, 1)])
@pytest.mark.parametrize(
    "bounds", [(3_686_400, 16_777_216), (3_686_400, 4_194_304), (262_144, 4_194_304)]
)
def test_fit_ratio_stays_within_bounds(ratio: tuple[int, int], bounds: tuple[int, int]) -> None:
    width, height = fit_ratio(*ratio, 2048 * 2048, bounds)
    assert bounds[0] <= width * height <= bounds[1]
    assert width % 8 == 0
    assert height % 8 == 0
    assert abs(width / height - ratio[0] / ratio[1]) / (ratio[0] / ratio[1]) < 0.02

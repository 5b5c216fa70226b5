"""The buttons under results stay within Discord's component limits for any image count."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord.views import CHOOSE_ID, CUSTOM_ID, image_view, result_view
from bot.i18n.catalogs import ENGLISH, Catalogs

EN = ENGLISH.default

JOB = "abcdefgh"
#: Discord takes at most 10 attachments per message; the bot posts the rest in more messages
PER_MESSAGE = 10


def check_limits(components: list[dict[str, Any]]) -> list[str]:
    """Every custom id in the rows; asserts Discord's layout limits on the way."""
    assert 1 <= len(components) <= 5, "at most 5 action rows"
    ids: list[str] = []
    for row in components:
        children = row["components"]
        assert 1 <= len(children) <= 5, "at most 5 components per row"
        if any(child["type"] == 3 for child in children):
            assert len(children) == 1, "a select menu fills its row"
            assert len(children[0]["options"]) <= 25
        for child in children:
            custom_id = child["custom_id"]
            assert len(custom_id) <= 100
            assert CUSTOM_ID.fullmatch(custom_id) or CHOOSE_ID.fullmatch(custom_id), custom_id
            ids.append(custom_id)
    assert len(ids) == len(set(ids)), "custom ids are unique within a message"
    return ids


@pytest.mark.parametrize("total", [1, 2, 4, 10, 15])
@pytest.mark.parametrize("tier", ["4K", None])
async def test_every_image_is_reachable_within_the_limits(total: int, tier: str | None) -> None:
    reachable: set[int] = set()
    for start in range(0, total, PER_MESSAGE):
        indexes = list(range(start, min(total, start + PER_MESSAGE)))
        view = result_view(JOB, EN, indexes=indexes, total=total, upscale_tier=tier)
        components = view.to_components()
        ids = check_limits(components)
        assert {f"sd:reroll:{JOB}", f"sd:remix:{JOB}", f"sd:delete:{JOB}"} <= set(ids)
        if total == 1:
            assert f"sd:vary_subtle:{JOB}:0" in ids
            assert (f"sd:upscale:{JOB}:0" in ids) is (tier is not None)
            reachable.add(0)
            continue
        if len(indexes) <= 4:
            labels = [c["label"] for row in components for c in row["components"]]
            assert [str(i + 1) for i in indexes] == [label for label in labels if label.isdigit()]
            reachable |= {int(i.rsplit(":", 1)[1]) for i in ids if i.startswith("sd:pick:")}
        else:
            [picker] = [c for row in components for c in row["components"] if c["type"] == 3]
            assert picker["custom_id"] == f"sd:choose:{JOB}"
            reachable |= {int(option["value"]) for option in picker["options"]}
    assert reachable == set(range(total))


@pytest.mark.parametrize("index", [0, 14])
async def test_the_picked_image_panel_is_one_row(index: int) -> None:
    components = image_view(JOB, index, "4K", EN).to_components()
    ids = check_limits(components)
    assert len(components) == 1
    assert ids == [
        f"sd:vary_subtle:{JOB}:{index}",
        f"sd:vary_strong:{JOB}:{index}",
        f"sd:upscale:{JOB}:{index}",
        f"sd:edit:{JOB}:{index}",
        f"sd:reference:{JOB}:{index}",
    ]


def test_buttons_and_picker_are_labelled_in_the_readers_language() -> None:
    german = Catalogs(["de"], "de").default
    one = result_view(JOB, german, upscale_tier="4K").to_components()
    labels = [c["label"] for row in one for c in row["components"]]
    assert labels == [
        "Variieren (leicht)",
        "Variieren (stark)",
        "4K",
        "Bearbeiten",
        "Als Referenz nutzen",
        "Neu würfeln",
        "Remix",
        "Löschen",
    ]
    many = result_view(JOB, german, indexes=list(range(6)), total=6).to_components()
    [picker] = [c for row in many for c in row["components"] if c["type"] == 3]
    assert picker["placeholder"].startswith("Wähle ein Bild")
    assert [option["label"] for option in picker["options"]][:2] == ["Bild 1", "Bild 2"]
    assert "Alle bearbeiten" in [c.get("label") for row in many for c in row["components"]]

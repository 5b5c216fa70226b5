"""Issue 15's request options on the wire: storyboards, prompt enhancement, output format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.core.errors import RequestValidationError
from bot.core.request import GenerationRequest
from tests.providers.conftest import MakeFake
from tests.providers.test_wire import sent

SEQUENCE_12 = {
    "sequential_image_generation": "auto",
    "sequential_image_generation_options": {"max_images": 12},
}


@pytest.mark.parametrize(
    ("flavor", "model"),
    [("ark", "seedream-4-5-251128"), ("ark", "seedream-4-0-250828"),
     ("apiyi", "seedream-5-0-260128"), ("apiyi", "seedream-4-5-251128")],
)  # fmt: skip
async def test_a_storyboard_is_a_sequential_generation_on_images_apis(
    flavor: str, model: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, flavor, model, count=12, sequential=True)
    assert SEQUENCE_12.items() <= body.items()
    assert "n" not in body


@pytest.mark.parametrize(
    ("flavor", "model"),
    [("poyo", "seedream-4.5"), ("poyo", "seedream-4"), ("vidgo", "seedream-4.5")],
)
async def test_a_storyboard_is_n_on_the_unified_api(
    flavor: str, model: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, flavor, model, count=12, sequential=True)
    assert body["input"]["n"] == 12
    assert "sequential_image_generation" not in body


async def test_apiyi_count_without_storyboard_stays_n(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, "apiyi", "seedream-4-5-251128", count=3)
    assert body["n"] == 3
    assert "sequential_image_generation" not in body


@pytest.mark.parametrize(
    ("model", "mode"),
    [("seedream-4-0-250828", "standard"), ("seedream-4-0-250828", "fast"),
     ("seedream-4-5-251128", "standard")],
)  # fmt: skip
async def test_ark_prompt_enhancement(
    model: str, mode: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, "ark", model, enhance=mode)
    assert body["optimize_prompt_options"] == {"mode": mode}


@pytest.mark.parametrize(
    ("flavor", "model"), [("ark", "seedream-5-0-260128"), ("apiyi", "seedream-5-0-260128")]
)
async def test_output_format_on_seedream_5(
    flavor: str, model: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, flavor, model, output_format="png")
    assert body["output_format"] == "png"


async def test_no_option_no_field(make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    body = await sent(make_fake, client, "ark", "seedream-4-5-251128")
    assert not {"optimize_prompt_options", "output_format", "sequential_image_generation"} & set(
        body
    )


@pytest.mark.parametrize(
    ("flavor", "model", "fields", "field"),
    [
        # 4.5 takes only the standard mode; 5.0 and the resellers document none
        ("ark", "seedream-4-5-251128", {"enhance": "fast"}, "enhance"),
        ("ark", "seedream-5-0-260128", {"enhance": "standard"}, "enhance"),
        ("apiyi", "seedream-4-5-251128", {"enhance": "standard"}, "enhance"),
        ("poyo", "seedream-4.5", {"enhance": "standard"}, "enhance"),
        ("vidgo", "seedream-4.5", {"enhance": "standard"}, "enhance"),
        # output_format: 5.0 only (4.5 / 4.0 are jpeg only)
        ("apiyi", "seedream-4-5-251128", {"output_format": "png"}, "format"),
        ("apiyi", "seedream-5-0-260128", {"output_format": "webp"}, "format"),
        ("poyo", "seedream-4.5", {"output_format": "png"}, "format"),
        # storyboards: 2 frames at least; references plus frames <= 15; not on every model
        ("ark", "seedream-4-5-251128", {"count": 1, "sequential": True}, "frames"),
        ("ark", "seedream-4-5-251128", {"count": 16, "sequential": True}, "frames"),
        ("apiyi", "seedream-4-5-251128",
         {"count": 6, "sequential": True, "reference_images": ("u",) * 10}, "frames"),
        ("ark", "seedream-3-0-t2i-250415", {"count": 2, "sequential": True}, "frames"),
        ("pixazo", None, {"count": 2, "sequential": True}, "frames"),
        ("apikley", None, {"count": 2, "sequential": True}, "frames"),
    ],
)  # fmt: skip
async def test_options_a_model_does_not_offer_are_refused_before_any_request(
    flavor: str,
    model: str | None,
    fields: dict[str, Any],
    field: str,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    fake = await make_fake(flavor)
    provider = fake.provider(client, model)
    with pytest.raises(RequestValidationError) as caught:
        await provider.submit(GenerationRequest(prompt="a fox", **fields))
    assert caught.value.field == field
    assert fake.count() == 0


async def test_a_storyboard_beyond_max_count_is_allowed_where_sequences_are(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    """APIYI's ``n`` stops at 4, its sequences at 15 (less the references)."""
    fake = await make_fake("apiyi")
    provider = fake.provider(client, "seedream-4-5-251128")
    request = GenerationRequest(prompt="a fox", count=5, reference_images=("u",) * 10)
    provider.validate(request.model_copy(update={"sequential": True}))
    with pytest.raises(RequestValidationError):
        provider.validate(request)

"""What each adapter puts on the wire (PROVIDERS.md §10.4), and where it sends it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot import __version__
from bot.core.request import GenerationRequest
from tests.providers.conftest import MakeFake


async def sent(
    make_fake: MakeFake,
    client: httpx.AsyncClient,
    flavor: str,
    model: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Submit one request to a fresh fake and return the JSON body it received."""
    fake = await make_fake(flavor)
    provider = fake.provider(client, model)
    callback = fields.pop("callback_url", None)
    await provider.submit(GenerationRequest(prompt="a fox", **fields), callback_url=callback)
    body = fake.last().body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize(
    ("flavor", "model", "fields", "expected_input"),
    [
        # Seedream 4.0: size is the ratio, the tier is separate
        ("poyo", "seedream-4", {"aspect_ratio": "3:2", "resolution": "1K"},
         {"size": "3:2", "resolution": "1K"}),
        ("poyo", "seedream-4", {"count": 4}, {"n": 4}),
        # 4.5: one size field; ratio x tier becomes pixels
        ("poyo", "seedream-4.5", {"aspect_ratio": "16:9", "resolution": "4K"},
         {"size": "5404x3040"}),
        ("poyo", "seedream-4.5", {"aspect_ratio": "9:16"}, {"size": "9:16"}),
        ("poyo", "seedream-4.5", {"resolution": "4K"}, {"size": "4K"}),
        ("vidgo", "seedream-4.5", {"width": 3000, "height": 2000}, {"size": "3000x2000"}),
        ("vidgo", "seedream-5.0-lite", {"aspect_ratio": "16:9", "resolution": "3K"},
         {"size": "4096x2304"}),
        ("vidgo", "seedream-4.5", {}, {"prompt": "a fox", "n": 1}),
    ],
)  # fmt: skip
async def test_unified_input(
    flavor: str,
    model: str,
    fields: dict[str, Any],
    expected_input: dict[str, Any],
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    body = await sent(make_fake, client, flavor, model, **fields)
    assert body["model"] == model
    assert expected_input.items() <= body["input"].items()
    assert "callback_url" not in body
    if not fields:
        assert set(body["input"]) == {"prompt", "n"}


async def test_unified_callback_url(make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    body = await sent(make_fake, client, "poyo", callback_url="https://bot.example/cb/x")
    assert body["callback_url"] == "https://bot.example/cb/x"


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        ("bytedance/seedream-v4-text-to-image",
         {"aspect_ratio": "16:9", "resolution": "2K", "count": 3, "seed": 42},
         {"image_size": "landscape_16_9", "image_resolution": "2K", "max_images": 3, "seed": 42}),
        ("bytedance/seedream-v4-text-to-image", {"aspect_ratio": "3:4"},
         {"image_size": "portrait_4_3", "max_images": 1}),
        ("bytedance/seedream-v4-text-to-image", {"aspect_ratio": "1:1"},
         {"image_size": "square_hd"}),
        ("seedream/4.5-text-to-image", {"aspect_ratio": "21:9", "resolution": "4K"},
         {"aspect_ratio": "21:9", "quality": "high"}),
        ("seedream/4.5-text-to-image", {}, {"aspect_ratio": "1:1", "quality": "basic"}),
    ],
)  # fmt: skip
async def test_apikley_input(
    model: str,
    fields: dict[str, Any],
    expected: dict[str, Any],
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    body = await sent(
        make_fake, client, "apikley", model, callback_url="https://b.example/cb", **fields
    )
    assert body["model"] == model
    assert body["callBackUrl"] == "https://b.example/cb"
    assert expected.items() <= body["input"].items()


@pytest.mark.parametrize(
    ("model", "fields", "size"),
    [
        ("seedream-4-5-251128", {"aspect_ratio": "16:9"}, "2560x1440"),
        ("seedream-4-5-251128", {}, "2048x2048"),
        # 4K is kept off Pixazo: "Must be between 512x512 and 2048x2048" (seed 001, l.26)
        ("seedream-4-5-251128", {"aspect_ratio": "3:2"}, "2496x1664"),
        ("seedream-4-5-251128", {"aspect_ratio": "5:4"}, "2288x1832"),
        ("seedream-4-0-250828", {"aspect_ratio": "21:9", "resolution": "1K"}, "1568x672"),
        ("seedream-3-0-t2i-250415", {"aspect_ratio": "16:9"}, "1280x720"),
        ("seedream-3-0-t2i-250415", {"width": 512, "height": 512}, "512x512"),
    ],
)
async def test_pixazo_always_sends_pixels(
    model: str, fields: dict[str, Any], size: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    body = await sent(make_fake, client, "pixazo", model, **fields)
    assert body["size"] == size
    assert body["model"] == model
    assert body["watermark"] is False
    assert body["response_format"] == "url"


async def test_pixazo_auth_header_and_seed(make_fake: MakeFake, client: httpx.AsyncClient) -> None:
    fake = await make_fake("pixazo")
    provider = fake.provider(client, "seedream-3-0-t2i-250415")
    await provider.submit(GenerationRequest(prompt="a fox", seed=7))
    record = fake.last()
    assert record.headers["ocp-apim-subscription-key"] == fake.api_key
    assert "authorization" not in record.headers
    assert record.body["seed"] == 7


@pytest.mark.parametrize(
    ("flavor", "model", "fields", "expected", "absent"),
    [
        ("apiyi", "seedream-4-5-251128", {"count": 3}, {"n": 3}, {"sequential_image_generation"}),
        ("apiyi", "seedream-5-0-260128", {"resolution": "3K"}, {"size": "3K"}, set()),
        ("apiyi", "seedream-4-0-250828", {"aspect_ratio": "4:3", "resolution": "4K"},
         {"size": "4694x3520"}, set()),
        ("apiyi", "seedream-4-5-251128", {"seed": 5, "reference_images": ("https://r/1.png",)},
         {"seed": 5, "image": ["https://r/1.png"]}, set()),
        ("apiyi", "seedream-4-5-251128", {}, {"watermark": False}, {"size", "n"}),
        ("ark", "seedream-4-5-251128", {"count": 4},
         {"sequential_image_generation": "auto",
          "sequential_image_generation_options": {"max_images": 4}}, {"n"}),
        ("ark", "seedream-4-5-251128", {}, {"watermark": False, "response_format": "url"},
         {"sequential_image_generation", "size", "n"}),
        ("ark", "seedream-4-0-250828", {"aspect_ratio": "2:3"}, {"size": "1664x2496"}, set()),
        ("ark", "seedream-3-0-t2i-250415", {"seed": 11, "aspect_ratio": "4:3"},
         {"seed": 11, "size": "1152x864"}, set()),
    ],
)  # fmt: skip
async def test_images_api_body(
    flavor: str,
    model: str,
    fields: dict[str, Any],
    expected: dict[str, Any],
    absent: set[str],
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    body = await sent(make_fake, client, flavor, model, **fields)
    assert body["model"] == model
    assert expected.items() <= body.items()
    assert not absent & set(body)


@pytest.mark.parametrize(
    ("flavor", "suffix"),
    [("ark", "/api/v3"), ("apiyi", "/v1"), ("apikley", "/api/v1"), ("poyo", "/")],
)
async def test_base_url_already_ending_in_the_version(
    flavor: str, suffix: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor)
    fake.base_url += suffix
    provider = fake.provider(client)
    status = await provider.submit(GenerationRequest(prompt="a fox"))
    assert fake.count("submit") == 1
    assert "//" not in fake.last().path
    assert status.task_id


@pytest.mark.parametrize("flavor", ["poyo", "pixazo", "apikley", "ark"])
async def test_base_url_with_a_proxy_prefix(
    flavor: str, make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake(flavor, prefix="/proxy/seedream")
    provider = fake.provider(client)
    await provider.submit(GenerationRequest(prompt="a fox"))
    assert fake.last().path.startswith("/proxy/seedream/")


async def test_requests_carry_user_agent_and_extra_headers(
    make_fake: MakeFake, client: httpx.AsyncClient
) -> None:
    fake = await make_fake("poyo")
    provider = fake.provider(client)
    provider.extra_headers["X-PoYo-Source"] = "cli"
    await provider.submit(GenerationRequest(prompt="a fox"))
    headers = fake.last().headers
    assert headers["user-agent"] == f"seedream-bot/{__version__}"
    assert headers["x-poyo-source"] == "cli"
    assert headers["authorization"] == f"Bearer {fake.api_key}"


REF = "https://cdn.example/ref.png"


@pytest.mark.parametrize(
    ("flavor", "model", "guided", "wire_model"),
    [
        # PoYo seed 000 / Vidgo seed 003: the base model takes references itself
        ("poyo", "seedream-4", True, "seedream-4"),
        ("poyo", "seedream-4.5", True, "seedream-4.5"),
        ("vidgo", "seedream-4.5", True, "seedream-4.5"),
        ("poyo", "seedream-4.5", False, "seedream-4.5-edit"),
        # Apikley's v4 text-to-image schema has no image field (seed 002): the edit model
        ("apikley", "bytedance/seedream-v4-text-to-image", True, "bytedance/seedream-v4-edit"),
    ],
)
async def test_guided_references_go_to_the_base_model_where_it_takes_them(
    flavor: str,
    model: str,
    guided: bool,
    wire_model: str,
    make_fake: MakeFake,
    client: httpx.AsyncClient,
) -> None:
    body = await sent(make_fake, client, flavor, model, reference_images=(REF,), guided=guided)
    assert body["model"] == wire_model
    assert body["input"]["image_urls"] == [REF]

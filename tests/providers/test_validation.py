"""Validation for every model of every provider: what is refused, before any HTTP request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.core.errors import RequestValidationError
from bot.core.request import ASPECT_RATIOS, GenerationRequest
from bot.providers import PROVIDER_TYPES
from bot.providers.base import ModelSpec, Provider, ProviderConfig
from bot.providers.sizes import TIER_SIZES

REF = "https://img.example/r.png"


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.method} {request.url}")


def make(flavor: str, model: str | None = None) -> Provider:
    cls = PROVIDER_TYPES[flavor]
    config = ProviderConfig(
        flavor, SecretStr("k" * 12), cls.default_base_url, model or cls.default_model
    )
    return cls(config=config, client=httpx.AsyncClient(transport=httpx.MockTransport(no_network)))


def refs(n: int) -> tuple[str, ...]:
    return tuple(f"{REF}?{i}" for i in range(n))


# (provider, model, request fields, the field the error names, or None when valid)
CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    # PoYo / Vidgo: seedream-4 tiers 1K/2K/4K, ratio only (no WxH); 4.5 2K/4K or WxH
    ("poyo", "seedream-4", {"resolution": "1K", "aspect_ratio": "21:9"}, None),
    ("poyo", "seedream-4", {"resolution": "3K"}, "resolution"),
    ("poyo", "seedream-4", {"width": 2048, "height": 2048}, "size"),
    ("poyo", "seedream-4", {"aspect_ratio": "7:3"}, "ratio"),
    ("poyo", "seedream-4.5", {"resolution": "1K"}, "resolution"),
    ("poyo", "seedream-4.5", {"resolution": "4k"}, None),
    ("poyo", "seedream-4.5", {"width": 2560, "height": 1440}, None),
    ("poyo", "seedream-4.5", {"width": 1024, "height": 1024}, "size"),
    ("poyo", "seedream-4.5", {"width": 8000, "height": 400}, "size"),
    ("poyo", "seedream-4.5", {"width": 2560}, "size"),
    ("poyo", "seedream-4.5", {"width": 2560, "height": 1440, "resolution": "2K"}, "size"),
    ("poyo", "seedream-4.5", {"width": 2560, "height": 1440, "aspect_ratio": "1:1"}, "size"),
    ("poyo", "seedream-4.5", {"count": 15}, None),
    ("poyo", "seedream-4.5", {"count": 16}, "count"),
    ("poyo", "seedream-4.5", {"count": 0}, "count"),
    ("poyo", "seedream-4.5", {"reference_images": refs(10), "count": 5}, None),
    ("poyo", "seedream-4.5", {"reference_images": refs(10), "count": 6}, "count"),
    ("poyo", "seedream-4.5", {"reference_images": refs(11)}, "image"),
    ("poyo", "seedream-4.5", {"seed": 1}, "seed"),
    ("poyo", "seedream-4.5", {"prompt": "x" * 4000}, None),
    ("poyo", "seedream-4.5", {"prompt": "x" * 4001}, "prompt"),
    ("poyo", "seedream-4.5", {"prompt": "   "}, "prompt"),
    ("poyo", "seedream-5.0-lite", {}, "model"),
    ("vidgo", "seedream-5.0-lite", {"resolution": "3K", "aspect_ratio": "16:9"}, None),
    ("vidgo", "seedream-5.0-lite", {"resolution": "4K"}, "resolution"),
    ("vidgo", "seedream-5.0-lite", {"prompt": "x" * 2001}, "prompt"),
    ("vidgo", "seedream-5.0-lite", {"width": 4096, "height": 4096}, "size"),
    ("vidgo", "seedream-4.5-edit", {"reference_images": refs(1)}, None),
    # Pixazo: one image per call, WxH only underneath
    ("pixazo", "seedream-4-5-251128", {"count": 2}, "count"),
    ("pixazo", "seedream-4-5-251128", {"reference_images": refs(10)}, None),
    ("pixazo", "seedream-4-5-251128", {"reference_images": refs(11)}, "image"),
    ("pixazo", "seedream-4-0-250828", {"resolution": "1K", "aspect_ratio": "9:16"}, None),
    ("pixazo", "seedream-3-0-t2i-250415", {"width": 512, "height": 512}, None),
    ("pixazo", "seedream-3-0-t2i-250415", {"width": 2048, "height": 2049}, "size"),
    ("pixazo", "seedream-3-0-t2i-250415", {"resolution": "2K"}, "resolution"),
    ("pixazo", "seedream-3-0-t2i-250415", {"reference_images": refs(1)}, "image"),
    ("pixazo", "seedream-3-0-t2i-250415", {"seed": 2147483647}, None),
    ("pixazo", "seedream-3-0-t2i-250415", {"seed": 2147483648}, "seed"),
    # Apikley: 4.5 one image, 3000-char prompt; v4 up to 6 images, 5000 chars, seed
    ("apikley", "seedream/4.5-text-to-image", {"count": 2}, "count"),
    ("apikley", "seedream/4.5-text-to-image", {"prompt": "x" * 3001}, "prompt"),
    ("apikley", "seedream/4.5-text-to-image", {"resolution": "4K", "aspect_ratio": "21:9"}, None),
    ("apikley", "seedream/4.5-text-to-image", {"width": 2560, "height": 1440}, "size"),
    ("apikley", "seedream/4.5-text-to-image", {"seed": 3}, "seed"),
    ("apikley", "bytedance/seedream-v4-text-to-image", {"count": 6, "seed": 3}, None),
    ("apikley", "bytedance/seedream-v4-text-to-image", {"count": 7}, "count"),
    # 5000 (seed 002, l.71) less " Generate exactly 6 images." added to the prompt
    ("apikley", "bytedance/seedream-v4-text-to-image", {"prompt": "x" * 4973}, None),
    ("apikley", "bytedance/seedream-v4-text-to-image", {"prompt": "x" * 4974}, "prompt"),
    ("apikley", "bytedance/seedream-v4-text-to-image", {"resolution": "1K"}, None),
    # APIYI: n 1-4, tiers per version, WxH within bounds
    ("apiyi", "seedream-5-0-260128", {"resolution": "3K"}, None),
    ("apiyi", "seedream-5-0-260128", {"resolution": "4K"}, "resolution"),
    ("apiyi", "seedream-5-0-lite-260128", {"resolution": "1K"}, "resolution"),
    ("apiyi", "seedream-4-5-251128", {"count": 4}, None),
    ("apiyi", "seedream-4-5-251128", {"count": 5}, "count"),
    ("apiyi", "seedream-4-0-250828", {"width": 1280, "height": 720}, None),
    ("apiyi", "seedream-4-0-250828", {"width": 1280, "height": 719}, "size"),
    ("apiyi", "seedream-4-5-251128", {"seed": 42}, None),
    ("apiyi", "seedream-4-5-251128", {"reference_images": refs(11)}, "image"),
    # Ark: sequential up to 15 incl. refs, 14 refs, seed only on 3.0
    ("ark", "seedream-4-5-251128", {"count": 15}, None),
    ("ark", "seedream-4-5-251128", {"reference_images": refs(14), "count": 1}, None),
    ("ark", "seedream-4-5-251128", {"reference_images": refs(14), "count": 2}, "count"),
    ("ark", "seedream-4-5-251128", {"reference_images": refs(15)}, "image"),
    ("ark", "seedream-4-5-251128", {"seed": 1}, "seed"),
    ("ark", "seedream-4-5-251128", {"width": 4096, "height": 4096}, None),
    ("ark", "seedream-4-5-251128", {"width": 4097, "height": 4096}, "size"),
    ("ark", "seedream-3-0-t2i-250415", {"seed": -1, "width": 1024, "height": 1024}, None),
    ("ark", "seedream-3-0-t2i-250415", {"count": 2}, "count"),
    ("ark", "seedream-5-0-260128", {"resolution": "3K", "aspect_ratio": "21:9"}, None),
    ("ark", "seedream-5-0-260128", {"resolution": "4K"}, "resolution"),
    ("ark", "seedream-9-9-999999", {}, "model"),
]


@pytest.mark.parametrize(
    ("flavor", "model", "fields", "bad_field"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[3] or 'ok'}-{i}" for i, c in enumerate(CASES)],
)
async def test_validation_table(
    flavor: str, model: str, fields: dict[str, Any], bad_field: str | None
) -> None:
    provider = make(flavor)
    request = GenerationRequest(prompt=fields.pop("prompt", "a fox"), model=model, **fields)
    if bad_field is None:
        provider.validate(request)
        return
    with pytest.raises(RequestValidationError) as caught:
        provider.validate(request)
    assert caught.value.field == bad_field
    # The adapter's own safety net refuses it too, without touching the network.
    with pytest.raises(RequestValidationError):
        await provider.submit(request)


def all_specs() -> list[tuple[str, ModelSpec]]:
    return [
        (flavor, spec) for flavor in PROVIDER_TYPES for spec in make(flavor).capabilities.models
    ]


@pytest.mark.parametrize(("flavor", "spec"), all_specs(), ids=lambda v: getattr(v, "id", v))
def test_every_model_accepts_its_presets_and_refuses_one_past_each_cap(
    flavor: str, spec: ModelSpec
) -> None:
    provider = make(flavor, spec.id)
    ok = provider.validate
    for ratio in spec.ratios:
        for tier in spec.resolutions or (None,):
            ok(GenerationRequest(prompt="p", aspect_ratio=ratio, resolution=tier))
            if spec.pixel_bounds and tier:  # every table size is within the model's bounds
                width, height = TIER_SIZES[tier][ratio]
                ok(GenerationRequest(prompt="p", width=width, height=height))
    ok(GenerationRequest(prompt="p" * spec.prompt_max, count=spec.max_count))
    if spec.max_refs:
        ok(GenerationRequest(prompt="p", reference_images=refs(spec.max_refs)))
    too_far = [
        ("prompt", {"prompt": "p" * (spec.prompt_max + 1)}),
        ("count", {"count": spec.max_count + 1}),
        ("image", {"reference_images": refs(spec.max_refs + 1)}),
        # any W:H where the model takes exact sizes, within 1:16-16:1; presets only elsewhere
        ("ratio", {"aspect_ratio": "17:1" if spec.pixel_bounds else "5:4"}),
    ]
    for field, change in too_far:
        request = GenerationRequest(**({"prompt": "p"} | change))
        with pytest.raises(RequestValidationError) as caught:
            ok(request)
        assert caught.value.field == field
    assert set(spec.ratios) == set(ASPECT_RATIOS)


def test_ratio_error_names_the_allowed_values() -> None:
    with pytest.raises(RequestValidationError) as caught:
        make("poyo", "seedream-4").validate(GenerationRequest(prompt="p", aspect_ratio="7:3"))
    assert caught.value.allowed == ASPECT_RATIOS
    assert "Seedream 4.0" in str(caught.value)


@pytest.mark.parametrize("flavor", list(PROVIDER_TYPES))
def test_unknown_configured_model_gets_generic_caps(flavor: str) -> None:
    provider = make(flavor, "seedream-next-999")
    caps = provider.capabilities
    assert caps.default_model == "seedream-next-999"
    spec = caps.model(None)
    assert spec.id == "seedream-next-999"
    provider.validate(GenerationRequest(prompt="p", aspect_ratio="16:9"))
    provider.validate(GenerationRequest(prompt="p", reference_images=refs(1)))
    with pytest.raises(RequestValidationError):
        provider.validate(GenerationRequest(prompt="p", count=2))
    # the documented models stay available next to it
    assert len(caps.models) == len(make(flavor).capabilities.models) + 1


def test_validate_resolves_the_default_and_normalises_the_tier() -> None:
    request = make("ark").validate(GenerationRequest(prompt="p", resolution="4k"))
    assert request.model == "seedream-4-5-251128"
    assert request.resolution == "4K"


def test_edit_model_id_is_accepted_as_the_model() -> None:
    request = make("poyo").validate(
        GenerationRequest(prompt="p", model="seedream-4-edit", reference_images=refs(1))
    )
    assert request.model == "seedream-4"

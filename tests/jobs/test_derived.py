"""The requests the creative loop derives from a result (pure)."""

from __future__ import annotations

from bot.core.request import GenerationRequest
from bot.jobs import derived
from bot.providers.sizes import higher_tier, nearest_ratio
from bot.providers.unified import SEEDREAM_4, SEEDREAM_5_LITE, SEEDREAM_45

PARENT = GenerationRequest(
    prompt="a red fox",
    aspect_ratio="16:9",
    resolution="2K",
    count=3,
    seed=42,
    reference_images=("https://old.example/a.png", "https://old.example/b.png"),
)


def test_a_variation_of_a_variation_does_not_nest_the_wording() -> None:
    once = derived.vary(PARENT, SEEDREAM_45, strong=False)
    twice = derived.vary(once, SEEDREAM_45, strong=True)
    assert twice.prompt == f"{derived.STRONG}\n{derived.ORIGINAL}a red fox"
    assert (once.count, once.seed, once.reference_images) == (3, None, ())
    assert (once.aspect_ratio, once.resolution) == ("16:9", "2K")


def test_the_wording_always_fits_the_model_prompt_limit() -> None:
    long = PARENT.model_copy(update={"prompt": "fox " * 1000})
    request = derived.vary(long, SEEDREAM_5_LITE, strong=False)
    assert len(request.prompt) <= SEEDREAM_5_LITE.prompt_max
    assert request.prompt.startswith(derived.SUBTLE)


def test_4k_is_one_image_at_the_tier_in_the_given_ratio() -> None:
    request = derived.upscale(PARENT, SEEDREAM_45, tier="4K", ratio="4:3")
    assert (request.count, request.resolution, request.aspect_ratio) == (1, "4K", "4:3")
    assert request.reference_images == ()


def test_reference_keeps_the_ratio_unless_changed_and_remix_keeps_references() -> None:
    kept = derived.reference(PARENT, SEEDREAM_45, "a fox in snow", "16:9")
    assert (kept.guided, kept.aspect_ratio, kept.reference_images) == (True, "16:9", ())
    sized = PARENT.model_copy(update={"aspect_ratio": None, "width": 3000, "height": 2000})
    assert derived.reference(sized, SEEDREAM_45, "x", "").exact_size == (3000, 2000)
    changed = derived.reference(sized, SEEDREAM_45, "x", "1:1")
    assert (changed.aspect_ratio, changed.exact_size) == ("1:1", None)
    remixed = derived.remix(PARENT, "a blue fox", "16:9")
    assert remixed == PARENT.model_copy(update={"prompt": "a blue fox"})


def test_4k_is_offered_only_below_the_models_top_tier() -> None:
    assert higher_tier(GenerationRequest(prompt="x"), SEEDREAM_45) == "4K"  # default 2K
    assert higher_tier(GenerationRequest(prompt="x", resolution="4K"), SEEDREAM_45) is None
    assert higher_tier(GenerationRequest(prompt="x", resolution="1K"), SEEDREAM_4) == "4K"
    assert higher_tier(GenerationRequest(prompt="x"), SEEDREAM_5_LITE) == "3K"
    exact = GenerationRequest(prompt="x", width=4096, height=4096)
    assert higher_tier(exact, SEEDREAM_45) is None


def test_nearest_ratio() -> None:
    assert nearest_ratio(64, 48) == "4:3"
    assert nearest_ratio(1000, 1000) == "1:1"
    assert nearest_ratio(720, 1280) == "9:16"
    assert nearest_ratio(2520, 1080) == "21:9"

"""BytePlus ModelArk adapter: synchronous ``/api/v3/images/generations`` (PROVIDERS.md §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from bot.core.request import ASPECT_RATIOS
from bot.providers.base import ModelSpec
from bot.providers.images_api import ImagesApiProvider, sequential_fields

MODELS = (
    ModelSpec(
        id="seedream-4-5-251128",
        label="Seedream 4.5",
        ratios=ASPECT_RATIOS,
        resolutions=("2K", "4K"),
        pixel_bounds=(3_686_400, 16_777_216),
        max_count=15,
        max_refs=14,
        sequential=True,
        # optimize_prompt_options.mode: 4.5 takes only standard (PROVIDERS.md §6.2)
        enhance_modes=("standard",),
    ),
    ModelSpec(
        id="seedream-4-0-250828",
        label="Seedream 4.0",
        ratios=ASPECT_RATIOS,
        resolutions=("1K", "2K", "4K"),
        pixel_bounds=(921_600, 16_777_216),
        max_count=15,
        max_refs=14,
        sequential=True,
        enhance_modes=("standard", "fast"),
    ),
    # 3.0 t2i: WxH only, one image, no references; the only one that honours a seed.
    ModelSpec(
        id="seedream-3-0-t2i-250415",
        label="Seedream 3.0",
        ratios=ASPECT_RATIOS,
        pixel_bounds=(262_144, 4_194_304),
        max_count=1,
        max_refs=0,
        supports_seed=True,
        # seed [-1, 2147483647] and guidance_scale [1, 10] on 3.0 only (PROVIDERS.md §6.2, B1)
        seed_min=-1,
        guidance_bounds=(1.0, 10.0),
    ),
    ModelSpec(
        id="seedream-5-0-260128",
        label="Seedream 5.0",
        ratios=ASPECT_RATIOS,
        resolutions=("2K", "3K"),
        pixel_bounds=(3_686_400, 10_404_496),
        max_count=15,
        max_refs=14,
        sequential=True,
        # output_format png/jpeg: 5.0 (lite) only (PROVIDERS.md §6.2)
        output_formats=("png", "jpeg"),
    ),
)


@dataclass(eq=False)
class ArkProvider(ImagesApiProvider):
    """BytePlus ModelArk."""

    name: ClassVar[str] = "ark"
    display_name: ClassVar[str] = "BytePlus ModelArk"
    default_base_url: ClassVar[str] = "https://ark.ap-southeast.bytepluses.com"
    default_model: ClassVar[str] = "seedream-4-5-251128"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = MODELS
    generations_path: ClassVar[str] = "/api/v3/images/generations"

    def image_field(self, refs: tuple[str, ...]) -> str | list[str]:
        """Ark takes a string for one image, an array for several."""
        return refs[0] if len(refs) == 1 else list(refs)

    def count_fields(self, count: int) -> dict[str, Any]:
        """``n`` is not an Ark parameter: ask for a sequence of up to ``count`` images."""
        return sequential_fields(count) if count > 1 else {}

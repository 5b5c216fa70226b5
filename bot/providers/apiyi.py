"""APIYI adapter: OpenAI-compatible, synchronous ``/v1/images/generations`` (PROVIDERS.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bot.core.request import ASPECT_RATIOS
from bot.providers.base import ModelSpec
from bot.providers.images_api import ImagesApiProvider


def _spec(
    model_id: str,
    label: str,
    tiers: tuple[str, ...],
    bounds: tuple[int, int],
    formats: tuple[str, ...] = (),
) -> ModelSpec:
    # APIYI: n 1-4, up to 10 reference URLs, seed accepted on every model (Y1, Y2);
    # sequences through sequential_image_generation (Y2); output_format png on 5.0 (Y1).
    return ModelSpec(
        id=model_id,
        label=label,
        ratios=ASPECT_RATIOS,
        resolutions=tiers,
        pixel_bounds=bounds,
        max_count=4,
        max_refs=10,
        supports_seed=True,
        sequential=True,
        output_formats=formats,
    )


PNG_JPEG = ("png", "jpeg")

#: Seedream 5.0 has no 4K; its pixel ceiling is a secondary source (PROVIDERS.md §9). Each
#: model's bounds lie within the endpoint's "total ∈ [1280×720, 4096×4096] and aspect ratio
#: ∈ [1/16, 16]" (seed 004, l.52), which any W:H ratio and exact size are checked against.
MODELS = (
    _spec("seedream-5-0-260128", "Seedream 5.0", ("2K", "3K"), (3_686_400, 10_404_496), PNG_JPEG),
    _spec(
        "seedream-5-0-lite-260128",
        "Seedream 5.0 lite",
        ("2K", "3K"),
        (3_686_400, 10_404_496),
        PNG_JPEG,
    ),
    _spec("seedream-4-5-251128", "Seedream 4.5", ("2K", "4K"), (3_686_400, 16_777_216)),
    _spec("seedream-4-0-250828", "Seedream 4.0", ("1K", "2K", "4K"), (921_600, 16_777_216)),
)


@dataclass(eq=False)
class ApiyiProvider(ImagesApiProvider):
    """APIYI."""

    name: ClassVar[str] = "apiyi"
    display_name: ClassVar[str] = "APIYI"
    default_base_url: ClassVar[str] = "https://api.apiyi.com"
    default_model: ClassVar[str] = "seedream-5-0-260128"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = MODELS
    generations_path: ClassVar[str] = "/v1/images/generations"

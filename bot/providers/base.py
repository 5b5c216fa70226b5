"""The one interface every provider adapter implements, and validation against it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
from pydantic import SecretStr

from bot.core.errors import RequestValidationError
from bot.core.localizable import N_
from bot.core.request import CallbackHint, GenerationRequest, TaskStatus

#: Seedream counts reference images and outputs together (PROVIDERS.md section 9).
MAX_REFS_PLUS_OUTPUTS = 15
#: the seed range every Seedream API documents (PROVIDERS.md §3.2, §6.2)
SEED_MIN, SEED_MAX = -1, 2_147_483_647

#: a ratio or resolution the model does not take
NOT_OFFERED = N_("`{value}` is not offered by {model}.")


@dataclass(frozen=True)
class ModelSpec:
    """What one model (as one provider names it) can do."""

    #: the provider's own id for text-to-image, e.g. ``seedream-4.5``
    id: str
    #: human label, e.g. ``Seedream 4.5``
    label: str
    #: the provider's id used when reference images are given (None: same as ``id``)
    edit_id: str | None = None
    ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    #: inclusive bounds on width*height for an exact size; None: exact sizes unsupported
    pixel_bounds: tuple[int, int] | None = None
    #: inclusive bounds on width/height ratio for an exact size
    ratio_bounds: tuple[float, float] = (1 / 16, 16.0)
    max_count: int = 1
    max_refs: int = 0
    max_total: int = MAX_REFS_PLUS_OUTPUTS
    prompt_max: int = 4000
    supports_seed: bool = False
    #: the model needs references (an edit-only model)
    requires_refs: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What a provider offers, as the bot and the slash-command choices see it."""

    synchronous: bool
    callbacks: bool
    models: tuple[ModelSpec, ...]
    default_model: str

    def model(self, model_id: str | None) -> ModelSpec:
        """The spec for ``model_id`` (or the default); a validation error names the choices."""
        wanted = model_id or self.default_model
        for spec in self.models:
            if wanted in (spec.id, spec.edit_id):
                return spec
        raise RequestValidationError(
            "model", N_("`{wanted}` is not offered."), self.model_ids, wanted=wanted
        )

    @property
    def model_ids(self) -> tuple[str, ...]:
        """Every text-to-image model id, in the provider's order."""
        return tuple(spec.id for spec in self.models)


@dataclass(frozen=True)
class ProviderConfig:
    """The operator's settings for one provider."""

    name: str
    api_key: SecretStr
    base_url: str
    model: str


@dataclass
class Provider(ABC):
    """A Seedream reseller's HTTP API behind the common model.

    Adapters never retry a submit that may have reached the provider, never log the key,
    and raise only ``bot.core.errors.ProviderError`` subclasses.
    """

    #: registry name, also the settings prefix (``POYO_API_KEY``)
    name: ClassVar[str]
    #: shown in ``check`` and embeds
    display_name: ClassVar[str]
    default_base_url: ClassVar[str]
    default_model: ClassVar[str]

    config: ProviderConfig
    client: httpx.AsyncClient
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this provider can do with its configured default model."""

    @abstractmethod
    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Send a validated request; a task-based API returns a queued status with its id,
        a synchronous API returns the finished status (with a synthetic task id)."""

    @abstractmethod
    async def status(self, task_id: str) -> TaskStatus:
        """Ask the provider where the task is."""

    def parse_callback(self, body: bytes) -> CallbackHint:
        """Read a callback body into a task id and a state hint.

        Providers without callbacks keep this default, which refuses every body.
        """
        raise NotImplementedError(f"{self.name} has no callbacks")

    def validate(self, request: GenerationRequest) -> GenerationRequest:
        """``validate_request`` against this provider's capabilities."""
        return validate_request(request, self.capabilities)


def validate_request(request: GenerationRequest, caps: Capabilities) -> GenerationRequest:
    """Check a request against a model before any HTTP request or quota reservation.

    Returns the request with ``model`` resolved to the provider's text-to-image id (the
    adapter swaps in ``edit_id`` itself when references are given). Raises
    ``RequestValidationError`` naming the field and the allowed values.
    """
    spec = caps.model(request.model)
    prompt = request.prompt
    if not prompt:
        raise RequestValidationError("prompt", N_("must not be empty."))
    if len(prompt) > spec.prompt_max:
        raise RequestValidationError(
            "prompt",
            N_("is {length} characters; {model} takes at most {most}."),
            length=len(prompt),
            model=spec.label,
            most=spec.prompt_max,
        )
    if request.aspect_ratio is not None and request.aspect_ratio not in spec.ratios:
        raise RequestValidationError(
            "ratio",
            NOT_OFFERED,
            spec.ratios,
            value=request.aspect_ratio,
            model=spec.label,
        )
    if request.resolution is not None and request.resolution.upper() not in spec.resolutions:
        raise RequestValidationError(
            "resolution",
            NOT_OFFERED,
            spec.resolutions,
            value=request.resolution,
            model=spec.label,
        )
    _validate_exact_size(request, spec)
    if not 1 <= request.count <= spec.max_count:
        raise RequestValidationError(
            "count",
            N_("must be between 1 and {most} for {model}."),
            most=spec.max_count,
            model=spec.label,
        )
    refs = len(request.reference_images)
    if refs > spec.max_refs:
        raise RequestValidationError(
            "image",
            N_("{count} reference images given; {model} takes at most {most}."),
            count=refs,
            model=spec.label,
            most=spec.max_refs,
        )
    if spec.requires_refs and refs == 0:
        raise RequestValidationError(
            "image", N_("{model} needs at least one reference image."), model=spec.label
        )
    if refs + request.count > spec.max_total:
        raise RequestValidationError(
            "count",
            N_("reference images plus count is {total}; {model} allows at most {most}."),
            total=refs + request.count,
            model=spec.label,
            most=spec.max_total,
        )
    if request.seed is not None and not spec.supports_seed:
        raise RequestValidationError(
            "seed", N_("{model} here does not take a seed."), model=spec.label
        )
    if request.seed is not None and not SEED_MIN <= request.seed <= SEED_MAX:
        raise RequestValidationError(
            "seed",
            N_("must be between {least} and {most}."),
            least=str(SEED_MIN),
            most=str(SEED_MAX),
        )
    resolution = request.resolution.upper() if request.resolution else None
    return request.model_copy(update={"model": spec.id, "resolution": resolution})


def _validate_exact_size(request: GenerationRequest, spec: ModelSpec) -> None:
    if request.width is None and request.height is None:
        return
    size = request.exact_size
    if size is None:
        raise RequestValidationError("size", N_("give both width and height, as WIDTHxHEIGHT."))
    if spec.pixel_bounds is None:
        raise RequestValidationError(
            "size",
            N_("{model} here takes no exact size; use ratio and resolution."),
            model=spec.label,
        )
    if request.resolution is not None:
        raise RequestValidationError("size", N_("give an exact size or a resolution, not both."))
    if request.aspect_ratio is not None:
        raise RequestValidationError("size", N_("give an exact size or a ratio, not both."))
    width, height = size
    low, high = spec.pixel_bounds
    if not low <= width * height <= high:
        raise RequestValidationError(
            "size",
            N_("{size} is {pixels} pixels; {model} takes {least} to {most}."),
            size=f"{width}x{height}",
            pixels=width * height,
            model=spec.label,
            least=low,
            most=high,
        )
    ratio_low, ratio_high = spec.ratio_bounds
    if not ratio_low <= width / height <= ratio_high:
        raise RequestValidationError(
            "size",
            N_("{size} is too narrow or too wide (ratio 1:16 to 16:1)."),
            size=f"{width}x{height}",
        )

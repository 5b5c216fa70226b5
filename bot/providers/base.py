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
from bot.core.shapes import nearest_ratio, parse_ratio, ratio_text, source_ratio

#: Seedream counts reference images and outputs together (PROVIDERS.md section 9).
MAX_REFS_PLUS_OUTPUTS = 15
#: the top of the seed range every Seedream API documents (PROVIDERS.md §3.2, §6.2); the
#: bottom is per model (``ModelSpec.seed_min``)
SEED_MAX = 2_147_483_647

#: a ratio or resolution the model does not take
NOT_OFFERED = N_("`{value}` is not offered by {model}.")


@dataclass(frozen=True)
class SubmitRate:
    """A provider's documented limit on new tasks: at most ``count`` submits in any ``per`` s."""

    count: int
    per: float


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
    #: a consistent sequence (``/storyboard``) can be asked for
    sequential: bool = False
    #: prompt enhancement modes the provider documents (empty: not offered)
    enhance_modes: tuple[str, ...] = ()
    #: ``output_format`` values the model documents (empty: the provider's default only)
    output_formats: tuple[str, ...] = ()
    # Issue 15: image prompts, seeds and guidance as each seed documents them.
    #: the text-to-image ``id`` itself takes references (used for guided generation)
    base_takes_refs: bool = False
    #: the reference formats the model takes; None: PNG, JPEG and WebP
    ref_formats: frozenset[str] | None = None
    #: the lowest seed: -1 ("random") where the provider documents it
    seed_min: int = 0
    #: inclusive bounds of ``guidance_scale``; None: not taken
    guidance_bounds: tuple[float, float] | None = None


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
    #: callbacks reach it only at ``https://`` URLs (else its jobs are polled)
    https_callbacks_only: ClassVar[bool] = False
    #: the documented submit rate, paced client-side (None: none documented)
    submit_rate: ClassVar[SubmitRate | None] = None

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
    request = keep_source_shape(request, spec)
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
    _validate_ratio(request, spec)
    if request.resolution is not None and request.resolution.upper() not in spec.resolutions:
        raise RequestValidationError(
            "resolution",
            NOT_OFFERED,
            spec.resolutions,
            value=request.resolution,
            model=spec.label,
        )
    _validate_exact_size(request, spec)
    refs = len(request.reference_images)
    if request.sequential:
        _validate_frames(request, spec, refs)
    elif not 1 <= request.count <= spec.max_count:
        raise RequestValidationError(
            "count",
            N_("must be between 1 and {most} for {model}."),
            most=spec.max_count,
            model=spec.label,
        )
    if refs and spec.max_refs == 0:
        raise RequestValidationError(
            "image", N_("{model} takes no reference images."), model=spec.label
        )
    if refs > spec.max_refs:
        raise RequestValidationError(
            "image",
            N_("{count} reference images given; {model} takes at most {most}."),
            count=refs,
            model=spec.label,
            most=spec.max_refs,
        )
    _validate_formats(request, spec)
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
    if request.seed is not None and not spec.seed_min <= request.seed <= SEED_MAX:
        raise RequestValidationError(
            "seed",
            N_("must be between {least} and {most} (-1: random) for {model}.")
            if spec.seed_min < 0
            else N_("must be between {least} and {most} for {model}."),
            least=str(spec.seed_min),
            most=str(SEED_MAX),
            model=spec.label,
        )
    _validate_guidance(request, spec)
    _validate_prompt_options(request, spec)
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
            N_("{size} is too narrow or too wide; {model} takes ratios {least} to {most}."),
            size=f"{width}x{height}",
            model=spec.label,
            least=ratio_text(ratio_low),
            most=ratio_text(ratio_high),
        )


def keep_source_shape(request: GenerationRequest, spec: ModelSpec) -> GenerationRequest:
    """An edit with no ratio or size keeps its (first) reference's shape: the exact size
    where the model takes it, else its ratio, snapped to the nearest the model offers when
    the model takes no other."""
    source = request.source_size
    if source is None or request.aspect_ratio is not None or request.exact_size is not None:
        return request
    if request.width is not None or request.height is not None:
        return request
    width, height = source
    low_ratio, high_ratio = spec.ratio_bounds
    if spec.pixel_bounds is not None and low_ratio <= width / height <= high_ratio:
        low, high = spec.pixel_bounds
        if request.resolution is None and low <= width * height <= high:
            return request.model_copy(update={"width": width, "height": height})
        return request.model_copy(update={"aspect_ratio": source_ratio(width, height, spec.ratios)})
    if not spec.ratios:
        return request
    return request.model_copy(update={"aspect_ratio": source_ratio_snapped(source, spec)})


def source_ratio_snapped(source: tuple[int, int], spec: ModelSpec) -> str:
    """The offered ratio nearest to the source's."""
    return nearest_ratio(*source, spec.ratios)


def _validate_ratio(request: GenerationRequest, spec: ModelSpec) -> None:
    """A preset the model offers, or any ``W:H`` within its ratio bounds where it takes
    exact sizes (the adapter then asks for pixels of that ratio)."""
    ratio = request.aspect_ratio
    if ratio is None or ratio in spec.ratios:
        return
    across, down = parse_ratio(ratio)
    if spec.pixel_bounds is None:
        raise RequestValidationError(
            "ratio",
            N_("`{value}` is not offered by {model} here."),
            spec.ratios,
            value=ratio,
            model=spec.label,
        )
    low, high = spec.ratio_bounds
    if not low <= across / down <= high:
        raise RequestValidationError(
            "ratio",
            N_("`{value}` is too narrow or too wide; {model} takes {least} to {most}."),
            value=ratio,
            model=spec.label,
            least=ratio_text(low),
            most=ratio_text(high),
        )


def _validate_formats(request: GenerationRequest, spec: ModelSpec) -> None:
    if spec.ref_formats is None:
        return
    for position, fmt in enumerate(request.reference_formats, start=1):
        if fmt not in spec.ref_formats:
            raise RequestValidationError(
                "image",
                N_(
                    "reference {position} is {format}; {model} here takes {formats} only. "
                    "Convert it and attach it again."
                ),
                position=str(position),
                format=fmt.upper(),
                model=spec.label,
                # a tuple: joined the reader's way ("JPEG and PNG", "JPEG und PNG")
                formats=tuple(sorted(f.upper() for f in spec.ref_formats)),
            )


def _validate_guidance(request: GenerationRequest, spec: ModelSpec) -> None:
    value = request.guidance_scale
    if value is None:
        return
    if spec.guidance_bounds is None:
        raise RequestValidationError(
            "guidance", N_("{model} here takes no guidance scale."), model=spec.label
        )
    low, high = spec.guidance_bounds
    if not low <= value <= high:
        raise RequestValidationError(
            "guidance",
            N_("must be between {least} and {most} for {model}."),
            least=f"{low:g}",
            most=f"{high:g}",
            model=spec.label,
        )


#: a storyboard has at least two frames
MIN_FRAMES = 2


def max_frames(spec: ModelSpec, refs: int = 0) -> int:
    """The most frames ``spec`` makes in one sequence beside ``refs`` references (0: none)."""
    return max(0, spec.max_total - refs) if spec.sequential else 0


def _validate_frames(request: GenerationRequest, spec: ModelSpec, refs: int) -> None:
    if not spec.sequential:
        raise RequestValidationError(
            "frames",
            N_("{model} here cannot make a storyboard (a consistent sequence)."),
            model=spec.label,
        )
    most = max_frames(spec, refs)
    if not MIN_FRAMES <= request.count <= most:
        if refs:
            raise RequestValidationError(
                "frames",
                N_(
                    "must be between {least} and {most} for {model} with these references "
                    "(reference images: {refs}; references plus frames ≤ {total})."
                ),
                least=MIN_FRAMES,
                most=most,
                model=spec.label,
                refs=refs,
                total=spec.max_total,
            )
        raise RequestValidationError(
            "frames",
            N_("must be between {least} and {most} for {model}."),
            least=MIN_FRAMES,
            most=most,
            model=spec.label,
        )


def _validate_prompt_options(request: GenerationRequest, spec: ModelSpec) -> None:
    if request.enhance is not None and request.enhance not in spec.enhance_modes:
        if not spec.enhance_modes:
            raise RequestValidationError(
                "enhance", N_("{model} here offers no prompt enhancement."), model=spec.label
            )
        raise RequestValidationError(
            "enhance", NOT_OFFERED, spec.enhance_modes, value=request.enhance, model=spec.label
        )
    if request.output_format is not None and request.output_format not in spec.output_formats:
        if not spec.output_formats:
            raise RequestValidationError(
                "format", N_("{model} here has no choice of output format."), model=spec.label
            )
        raise RequestValidationError(
            "format",
            NOT_OFFERED,
            spec.output_formats,
            value=request.output_format,
            model=spec.label,
        )

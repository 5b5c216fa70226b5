"""The requests the creative loop makes from a result: vary, 4K, edit, use as reference, remix.

Pure: the caller adds the chosen image as the only reference (read fresh from its message).

How close a variation stays is said in words. The provider documents (``shared/seeds/``,
PROVIDERS.md §9) give Seedream 4.x no strength or guidance knob: ``guidance_scale`` is a
Seedream 3.0 / SeedEdit parameter ("not supported on 4.x"), and a seed is not honoured by
4.x on Ark. What every reseller does document is an edit model that follows an instruction
with the image as reference (PoYo ``seedream-4-edit``, Vidgo ``seedream-4.5-edit``, APIYI's
``image`` field, Ark's ``image``). So a variation is an edit of that image whose instruction
asks to keep it (subtle) or to let it move (strong), followed by the original prompt, and the
seed is dropped so the model is free to differ.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.request import GenerationRequest
from bot.providers.base import MAX_REFS_PLUS_OUTPUTS, ModelSpec

SUBTLE = (
    "Make a subtle variation of this image: keep the same composition, subjects, poses, "
    "colours, lighting and style, and change only small details."
)
STRONG = (
    "Make a strong variation of this image: keep its subject and overall style, but freely "
    "reimagine the composition, poses, camera angle, lighting and details."
)
#: a re-render, not a pixel-faithful upscale: the model draws the image again at the tier
UPSCALE = (
    "Re-render this exact image at a higher resolution with crisp fine detail. Keep "
    "everything the same: composition, subjects, colours, any text, and style."
)
ORIGINAL = "Original prompt: "
WORDINGS = (SUBTLE, STRONG, UPSCALE)

#: a request that needs the picked image's displayed ``(width, height)`` (None when unknown)
Shaper = Callable[[int | None, int | None], GenerationRequest]


def base_prompt(prompt: str) -> str:
    """The member's prompt inside one of our wordings (a variation of a variation does not
    nest the wording)."""
    for wording in WORDINGS:
        if prompt.startswith(wording) and ORIGINAL in prompt:
            return prompt.split(ORIGINAL, 1)[1]
    return prompt


def worded(wording: str, prompt: str, spec: ModelSpec) -> str:
    """``wording`` then the original prompt, the prompt cut to fit the model's limit."""
    head = f"{wording}\n{ORIGINAL}"
    room = max(0, spec.prompt_max - len(head))
    original = base_prompt(prompt)[:room].rstrip()
    return head + original if original else wording


def _one_reference(request: GenerationRequest, **update: object) -> GenerationRequest:
    """``request`` emptied of references, ready for the chosen image."""
    return request.model_copy(update={"reference_images": (), "guided": False, **update})


def _count_with_one_reference(count: int, spec: ModelSpec) -> int:
    # Seedream counts references and outputs together (at most 15 with the one reference).
    return max(1, min(count, spec.max_count, spec.max_total - 1, MAX_REFS_PLUS_OUTPUTS - 1))


def vary(parent: GenerationRequest, spec: ModelSpec, *, strong: bool) -> GenerationRequest:
    """Edit the chosen image with the original prompt, as many images as the parent made."""
    return _one_reference(
        parent,
        prompt=worded(STRONG if strong else SUBTLE, parent.prompt, spec),
        count=_count_with_one_reference(parent.count, spec),
        seed=None,
    )


def upscale(
    parent: GenerationRequest, spec: ModelSpec, *, tier: str, ratio: str
) -> GenerationRequest:
    """One image at ``tier`` in the image's ``ratio``, through the edit model."""
    return _one_reference(
        parent,
        prompt=worded(UPSCALE, parent.prompt, spec),
        resolution=tier,
        aspect_ratio=ratio,
        width=None,
        height=None,
        count=1,
        seed=None,
    )


def edit(parent: GenerationRequest, instruction: str) -> GenerationRequest:
    """One image: the member's instruction applied to the chosen image, same model and shape."""
    return _one_reference(parent, prompt=instruction, count=1, seed=None)


def reshaped(request: GenerationRequest, ratio: str | None) -> GenerationRequest:
    """``request`` with the ratio typed in a modal: unchanged (or empty) keeps its shape."""
    typed = (ratio or "").strip()
    if not typed or typed == (request.aspect_ratio or ""):
        return request
    return request.model_copy(update={"aspect_ratio": typed, "width": None, "height": None})


def reference(
    parent: GenerationRequest, spec: ModelSpec, prompt: str, ratio: str | None
) -> GenerationRequest:
    """A new text-to-image job with the chosen image as an image prompt (``guided``)."""
    request = parent.model_copy(
        update={
            "prompt": prompt,
            "reference_images": (),
            "guided": True,
            "count": _count_with_one_reference(parent.count, spec),
            "seed": None,
        }
    )
    return reshaped(request, ratio)


def remix(parent: GenerationRequest, prompt: str, ratio: str | None) -> GenerationRequest:
    """The same job with the changed prompt (and ratio); references, if any, stay."""
    return reshaped(parent.model_copy(update={"prompt": prompt}), ratio)

"""Pixazo adapter: the BytePlus gateway's synchronous Seedream endpoints (PROVIDERS.md §3).

Text-to-image, one-reference and multi-reference edits are three endpoints taking
``size`` as ``WxH`` only, one image per call. The answer is Ark's ``data[]`` shape. Should an
answer carry a ``job_set_id`` instead (the gateway's async mode, undocumented for Seedream),
the task is polled through ``/ai-model-api-polling/getGenerationResults``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.core.request import GenerationRequest, ResultImage, TaskState, TaskStatus
from bot.providers.adapter import HttpProvider, SyncResults
from bot.providers.ark import MODELS as ARK_MODELS
from bot.providers.base import ModelSpec
from bot.providers.calls import missing
from bot.providers.failures import as_dict, body_code_and_message, task_error
from bot.providers.images_api import generation_timeout, parse_images, sync_task_id
from bot.providers.parsing import error_in_body, task_id_of, text_of
from bot.providers.sizes import pixel_size

TEXT_PATH = "/byteplus/v1/getTextToImage"
EDIT_PATH = "/byteplus/v1/getEditImage"
MULTI_EDIT_PATH = "/byteplus/v1/getEditMultiImage"
POLL_PATH = "/ai-model-api-polling/getGenerationResults"

#: only ``succeeded`` is documented; the rest is the gateway's likely vocabulary (INFERRED)
POLL_STATES: dict[str, TaskState] = {
    "pending": TaskState.QUEUED,
    "queued": TaskState.QUEUED,
    "processing": TaskState.RUNNING,
    "running": TaskState.RUNNING,
    "succeeded": TaskState.SUCCEEDED,
    "success": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "error": TaskState.FAILED,
}

#: "size ... Must be between 512x512 and 2048x2048" (seed 001, l.26), read as total pixels
#: as Ark words the same rule: 4K (4096x4096) and any larger size are kept off Pixazo
SIZE_BOUNDS = (512 * 512, 2048 * 2048)
#: "response_format ... "url" ..., "b64_json"" (seed 001, l.25): both are parsed
#: (``parse_images``); URLs keep the gateway's answers small
RESPONSE_FORMAT = "url"


def _within_size_range(spec: ModelSpec) -> ModelSpec:
    """One image per call, at most 10 references (INFERRED cap), and the documented size
    range: the tiers whose sizes fit in it, the pixel bounds cut to it. The seed (001)
    documents no sequences, prompt optimisation or output format, so none of Ark's are
    offered here."""
    low, high = spec.pixel_bounds or SIZE_BOUNDS
    bounds = (max(low, SIZE_BOUNDS[0]), min(high, SIZE_BOUNDS[1]))
    return dataclasses.replace(
        spec,
        max_count=1,
        max_refs=min(spec.max_refs, 10),
        resolutions=tuple(tier for tier in spec.resolutions if tier in ("1K", "2K")),
        pixel_bounds=bounds,
        sequential=False,
        enhance_modes=(),
        output_formats=(),
    )


#: The gateway forwards Ark's model ids (Seedream 5.0 is on routes of its own). Seeds in
#: [-1, 2147483647] and guidance_scale in [1, 10] (seed 001, l.27-28) on the model that takes
#: them, 3.0 (Ark: "not supported on 4.x", PROVIDERS.md §6.2).
MODELS = tuple(
    _within_size_range(spec) for spec in ARK_MODELS if not spec.id.startswith("seedream-5")
)


@dataclass(eq=False)
class PixazoProvider(HttpProvider):
    """Pixazo."""

    name: ClassVar[str] = "pixazo"
    display_name: ClassVar[str] = "Pixazo"
    default_base_url: ClassVar[str] = "https://gateway.pixazo.ai"
    default_model: ClassVar[str] = "seedream-4-5-251128"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = MODELS
    synchronous: ClassVar[bool] = True

    results: SyncResults = field(default_factory=SyncResults, repr=False)

    def auth_headers(self) -> dict[str, str]:
        """Azure API Management's subscription-key header."""
        return {
            "Ocp-Apim-Subscription-Key": self.config.api_key.get_secret_value(),
            "Cache-Control": "no-cache",
        }

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Generate (synchronously); ``callback_url`` is ignored, Pixazo has no callbacks."""
        request, spec, wire_model = self.prepare(request)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": wire_model,
            "size": pixel_size(request, spec),
            "response_format": RESPONSE_FORMAT,
            "watermark": request.watermark,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.guidance_scale is not None:
            body["guidance_scale"] = request.guidance_scale
        refs = request.reference_images
        path = TEXT_PATH
        if len(refs) == 1:
            path, body["image"] = EDIT_PATH, refs[0]
        elif refs:
            path, body["image"] = MULTI_EDIT_PATH, list(refs)
        return await self.call(
            "POST",
            path,
            idempotent=False,
            json_body=body,
            parse=self._submitted,
            http_timeout=generation_timeout(self.client, request, spec),
        )

    async def status(self, task_id: str) -> TaskStatus:
        """A cached synchronous result, or the gateway's polling endpoint for a job set."""
        if task_id.startswith("sync-"):
            return self.results.get(task_id, display=self.display_name, provider=self.name)
        return await self.call(
            "POST",
            POLL_PATH,
            idempotent=True,
            json_body={"job_set_id": task_id},
            parse=lambda answer: self._polled(task_id, answer),
        )

    def _submitted(self, answer: Any) -> TaskStatus:
        body = as_dict(answer)
        job_set_id = task_id_of(body.get("job_set_id"))
        if "data" not in body and job_set_id is not None:
            return TaskStatus(task_id=job_set_id, state=TaskState.QUEUED)
        return self.results.put(parse_images(body, self.endpoint, sync_task_id()))

    def _polled(self, task_id: str, answer: Any) -> TaskStatus:
        body = as_dict(answer)
        raw = text_of(body.get("status"))
        if raw is None:
            raise error_in_body(body, self.endpoint) or missing(self.endpoint, "job status")
        state = POLL_STATES.get(raw.strip().lower(), TaskState.RUNNING)
        images: tuple[ResultImage, ...] = ()
        if state is TaskState.SUCCEEDED:
            items = body["images"] if isinstance(body.get("images"), list) else []
            images = tuple(
                ResultImage(url=item["url"])
                for item in items
                if isinstance(item, dict) and text_of(item.get("url"))
            )
        error = None
        if state is TaskState.FAILED:
            code, message = body_code_and_message(body)
            error = task_error(code or "failed", message, self.endpoint.secrets)
        return TaskStatus(task_id=task_id, state=state, images=images, error=error)

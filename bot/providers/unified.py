"""The PoYo/Vidgo "unified" task API (PROVIDERS.md §1-2).

``POST /api/generate/submit`` → ``data.task_id``; ``GET /api/generate/status/{id}`` →
``data.status`` (not_started/running/finished/failed), ``data.files[].file_url``; callbacks
carry the status-response shape. Subclasses only set their metadata and model table.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import quote

from bot.core.request import (
    ASPECT_RATIOS,
    CallbackHint,
    GenerationRequest,
    ResultImage,
    TaskState,
    TaskStatus,
)
from bot.providers.adapter import HttpProvider
from bot.providers.base import ModelSpec
from bot.providers.calls import missing
from bot.providers.failures import as_dict, task_error
from bot.providers.parsing import error_in_body, percent, task_id_of
from bot.providers.sizes import default_tier, format_size, ratio_size

log = logging.getLogger(__name__)

SUBMIT_PATH = "/api/generate/submit"
STATUS_PATH = "/api/generate/status/{task_id}"

#: documented spellings plus the ones PoYo's own SDK tolerates (PROVIDERS.md §1.4)
STATES: dict[str, TaskState] = {
    "not_started": TaskState.QUEUED,
    "pending": TaskState.QUEUED,
    "queued": TaskState.QUEUED,
    "running": TaskState.RUNNING,
    "processing": TaskState.RUNNING,
    "finished": TaskState.SUCCEEDED,
    "success": TaskState.SUCCEEDED,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "error": TaskState.FAILED,
}

SEEDREAM_4 = ModelSpec(
    id="seedream-4",
    label="Seedream 4.0",
    edit_id="seedream-4-edit",
    ratios=ASPECT_RATIOS,
    resolutions=("1K", "2K", "4K"),
    max_count=15,
    max_refs=10,
    # n 1-15 with image_urls + n <= 15 (000 l.49-50; Vidgo V2, V5): a storyboard is n frames
    sequential=True,
    # "seedream-4 - Text-to-image generation, optionally with reference images" (seed 000, l.42)
    base_takes_refs=True,
)
SEEDREAM_45 = ModelSpec(
    id="seedream-4.5",
    label="Seedream 4.5",
    edit_id="seedream-4.5-edit",
    ratios=ASPECT_RATIOS,
    resolutions=("2K", "4K"),
    pixel_bounds=(3_686_400, 16_777_216),
    max_count=15,
    max_refs=10,
    # n 1-15 with image_urls + n <= 15 (000 l.49-50; Vidgo V2, V5): a storyboard is n frames
    sequential=True,
    # "seedream-4.5 - ... text-to-image and image-to-image generation" (seed 003, l.41)
    base_takes_refs=True,
)
SEEDREAM_5_LITE = ModelSpec(
    id="seedream-5.0-lite",
    label="Seedream 5.0 lite",
    edit_id="seedream-5.0-lite-edit",
    ratios=ASPECT_RATIOS,
    resolutions=("2K", "3K"),
    pixel_bounds=(3_686_400, 10_404_496),
    max_count=15,
    max_refs=10,
    # n 1-15 with image_urls + n <= 15 (000 l.49-50; Vidgo V2, V5): a storyboard is n frames
    sequential=True,
    prompt_max=2000,
    # image_urls optional on the base model, "1–10 JPEG/PNG" (PROVIDERS.md §2, V5): a WebP
    # cannot be converted here (Vidgo takes URLs, not bytes), so it is refused clearly
    base_takes_refs=True,
    ref_formats=frozenset({"png", "jpeg"}),
)


def map_state(raw: object) -> TaskState:
    """A status word → the common state; an unknown word is treated as still running."""
    state = STATES.get(str(raw or "").strip().lower())
    if state is None:
        log.warning("unknown task status %r; treating it as running", str(raw)[:40])
        return TaskState.RUNNING
    return state


class UnifiedProvider(HttpProvider):
    """PoYo-family adapter: task-based, with callbacks."""

    supports_callbacks: ClassVar[bool] = True

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Create a task; returns QUEUED with the provider's task id."""
        request, spec, wire_model = self.prepare(request)
        body: dict[str, Any] = {"model": wire_model, "input": self._input(request, spec)}
        if callback_url and (callback_url.startswith("https://") or not self.https_callbacks_only):
            body["callback_url"] = callback_url  # else polling alone (``check`` says so)
        return await self.call(
            "POST", SUBMIT_PATH, idempotent=False, json_body=body, parse=self._submitted
        )

    async def status(self, task_id: str) -> TaskStatus:
        """Query the unified status endpoint."""
        path = STATUS_PATH.format(task_id=quote(task_id, safe=""))
        return await self.call(
            "GET", path, idempotent=True, parse=lambda answer: self._status_of(task_id, answer)
        )

    def _submitted(self, answer: Any) -> TaskStatus:
        data = as_dict(as_dict(answer).get("data"))
        task_id = task_id_of(data.get("task_id"))
        if task_id is None:
            raise error_in_body(answer, self.endpoint) or missing(self.endpoint, "task id")
        return TaskStatus(task_id=task_id, state=TaskState.QUEUED)

    def _status_of(self, task_id: str, answer: Any) -> TaskStatus:
        data = as_dict(answer).get("data")
        if not isinstance(data, dict) or "status" not in data:
            raise error_in_body(answer, self.endpoint) or missing(self.endpoint, "task status")
        return self._to_status(task_id, data)

    def parse_callback(self, body: bytes) -> CallbackHint:
        """The callback is the status-response shape; read ``data``, else the top level."""
        task_id, data, payload = self.callback_fields(body, "task_id")
        raw_state = data.get("status") or payload.get("status")
        return CallbackHint(task_id=task_id, state=map_state(raw_state) if raw_state else None)

    def _input(self, request: GenerationRequest, spec: ModelSpec) -> dict[str, Any]:
        fields: dict[str, Any] = {"prompt": request.prompt, "n": request.count}
        fields.update(self._size_fields(request, spec))
        if request.reference_images:
            fields["image_urls"] = list(request.reference_images)
        return fields

    @staticmethod
    def _size_fields(request: GenerationRequest, spec: ModelSpec) -> dict[str, str]:
        ratio, tier = request.aspect_ratio, request.resolution
        if spec.pixel_bounds is None:
            # Seedream 4.0 style (and unknown models): size is the ratio, tier separate.
            fields = {"size": ratio} if ratio else {}
            return fields | ({"resolution": tier} if tier else {})
        # 4.5 / 5.0 style: one size field taking a tier, a ratio preset or WxH.
        if request.exact_size is not None:
            return {"size": format_size(request.exact_size)}
        if ratio and (tier or ratio not in ASPECT_RATIOS):
            # any other W:H becomes pixels of that ratio at the tier (default 2K)
            return {"size": format_size(ratio_size(ratio, tier or default_tier(spec), spec))}
        value = ratio or tier
        return {"size": value} if value else {}

    def _to_status(self, task_id: str, data: dict[str, Any]) -> TaskStatus:
        state = map_state(data.get("status"))
        images: tuple[ResultImage, ...] = ()
        if state is TaskState.SUCCEEDED:
            files = data["files"] if isinstance(data.get("files"), list) else []
            images = tuple(
                ResultImage(url=f["file_url"])
                for f in files
                if isinstance(f, dict)
                and isinstance(f.get("file_url"), str)
                and f["file_url"]
                and f.get("file_type", "image") == "image"
            )
        error = None
        if state is TaskState.FAILED:
            error = task_error("failed", data.get("error_message"), self.endpoint.secrets)
        return TaskStatus(
            task_id=task_id,
            state=state,
            progress=percent(data.get("progress")),
            images=images,
            error=error,
        )

"""Apikley adapter: a clone of KIE.ai's "Market" task API (PROVIDERS.md §4).

``POST /api/v1/jobs/createTask`` → ``data.taskId``; ``GET /api/v1/jobs/recordInfo?taskId=`` →
``data.state`` (waiting/queuing/generating/success/fail) with ``resultJson`` a JSON *string*.
Every envelope carries a ``code`` that may be an error even under HTTP 200, and the message
is ``msg`` on some answers and ``message`` on others.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from bot.core.request import (
    ASPECT_RATIOS,
    CallbackHint,
    GenerationRequest,
    ResultImage,
    TaskState,
    TaskStatus,
)
from bot.providers.adapter import HttpProvider
from bot.providers.base import ModelSpec, SubmitRate
from bot.providers.calls import missing
from bot.providers.failures import as_dict, error_from_status, task_error
from bot.providers.parsing import error_in_body, percent, task_id_of, text_of

CREATE_PATH = "/api/v1/jobs/createTask"
RECORD_PATH = "/api/v1/jobs/recordInfo"
#: KIE's "generation failed" code: a finished task, not a transport problem
CODE_FAILED = 501

STATES: dict[str, TaskState] = {
    "waiting": TaskState.QUEUED,
    "queuing": TaskState.QUEUED,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "fail": TaskState.FAILED,
}
#: ratio → the v4 ``image_size`` enum; 1:1 is ``square`` or ``square_hd`` by tier (below)
V4_IMAGE_SIZES: dict[str, str] = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "3:2": "landscape_3_2",
    "2:3": "portrait_3_2",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
    "21:9": "landscape_21_9",
}
#: 4.5 expresses the tier as a quality word
V45_QUALITY: dict[str, str] = {"2K": "basic", "4K": "high"}
#: "image_resolution ... default: 1K" (seed 002, l.104) unlike every other provider's 2K:
#: the tier is always sent, so one request means the same everywhere
DEFAULT_TIER = "2K"
#: "you must also state the exact number you want in the prompt" (seed 002, l.110-112)
COUNT_IN_PROMPT = " Generate exactly {count} images."

SEEDREAM_45 = ModelSpec(
    id="seedream/4.5-text-to-image",
    label="Seedream 4.5",
    edit_id="seedream/4.5-edit",
    ratios=ASPECT_RATIOS,
    resolutions=("2K", "4K"),
    max_count=1,
    max_refs=10,
    prompt_max=3000,
)
SEEDREAM_V4 = ModelSpec(
    id="bytedance/seedream-v4-text-to-image",
    label="Seedream 4.0",
    edit_id="bytedance/seedream-v4-edit",
    ratios=ASPECT_RATIOS,
    resolutions=("1K", "2K", "4K"),
    max_count=6,
    max_refs=10,
    # 5000 (seed 002, l.71) less the count sentence added to the prompt
    prompt_max=5000 - len(COUNT_IN_PROMPT.format(count=6)),
    supports_seed=True,
)


def v4_image_size(ratio: str, tier: str) -> str:
    """The ``image_size`` word: 1:1 is ``square`` at 1K and ``square_hd`` above (both in the
    enum, seed 002, l.82-83), following the requested resolution."""
    if ratio == "1:1" and tier == "1K":
        return "square"
    return V4_IMAGE_SIZES[ratio]


class ApikleyProvider(HttpProvider):
    """Apikley."""

    name: ClassVar[str] = "apikley"
    display_name: ClassVar[str] = "Apikley"
    default_base_url: ClassVar[str] = "https://api.apikley.ru"
    default_model: ClassVar[str] = "seedream/4.5-text-to-image"
    model_specs: ClassVar[tuple[ModelSpec, ...]] = (SEEDREAM_45, SEEDREAM_V4)
    supports_callbacks: ClassVar[bool] = True
    #: KIE, Apikley's upstream: "up to 20 new generation requests per 10 seconds" (§4.6 of
    #: PROVIDERS.md)
    submit_rate: ClassVar[SubmitRate | None] = SubmitRate(20, 10.0)

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Create a task; returns QUEUED with the provider's task id."""
        request, spec, wire_model = self.prepare(request)
        body: dict[str, Any] = {"model": wire_model, "input": self._input(request, spec)}
        if callback_url:
            body["callBackUrl"] = callback_url
        return await self.call(
            "POST",
            CREATE_PATH,
            idempotent=False,
            json_body=body,
            check=self._check,
            parse=self._created,
        )

    async def status(self, task_id: str) -> TaskStatus:
        """Query ``recordInfo``."""
        return await self.call(
            "GET",
            RECORD_PATH,
            idempotent=True,
            params={"taskId": task_id},
            check=self._check,
            parse=lambda answer: self._record(task_id, answer),
        )

    def _created(self, answer: Any) -> TaskStatus:
        task_id = task_id_of(as_dict(as_dict(answer).get("data")).get("taskId"))
        if task_id is None:
            raise error_in_body(answer, self.endpoint) or missing(self.endpoint, "task id")
        return TaskStatus(task_id=task_id, state=TaskState.QUEUED)

    def _record(self, task_id: str, answer: Any) -> TaskStatus:
        data = as_dict(as_dict(answer).get("data"))
        if "state" not in data:
            raise error_in_body(answer, self.endpoint) or missing(self.endpoint, "task state")
        return self._to_status(task_id, data)

    def parse_callback(self, body: bytes) -> CallbackHint:
        """KIE callback: ``{"code": 200|501, "msg", "data": {"taskId", "state", ...}}``."""
        task_id, data, payload = self.callback_fields(body, "taskId")
        state = STATES.get(str(data.get("state") or "").lower())
        if state is None and payload.get("code") in (200, CODE_FAILED):
            state = TaskState.SUCCEEDED if payload["code"] == 200 else TaskState.FAILED
        return CallbackHint(task_id=task_id, state=state)

    def _check(self, answer: Any) -> None:
        """Raise for an error ``code`` inside a 2xx envelope (a failed task is not one)."""
        body = as_dict(answer)
        code = body.get("code")
        if not isinstance(code, int) or isinstance(code, bool) or code == 200:
            return
        if code == CODE_FAILED and "state" in as_dict(body.get("data")):
            return
        raise error_from_status(
            code,
            body,
            provider=self.name,
            display=self.display_name,
            secrets=self.endpoint.secrets,
        )

    @staticmethod
    def _input(request: GenerationRequest, spec: ModelSpec) -> dict[str, Any]:
        fields: dict[str, Any] = {"prompt": request.prompt}
        if spec.id.startswith("seedream/"):
            # The 4.5 Market models want both fields; 1:1 at 2K when not asked (INFERRED).
            fields["aspect_ratio"] = request.aspect_ratio or "1:1"
            fields["quality"] = V45_QUALITY.get(request.resolution or "2K", "basic")
        else:
            tier = request.resolution or DEFAULT_TIER
            fields["image_size"] = v4_image_size(request.aspect_ratio or "1:1", tier)
            fields["image_resolution"] = tier
            fields["max_images"] = request.count
            if request.count > 1:
                fields["prompt"] += COUNT_IN_PROMPT.format(count=request.count)
            if request.seed is not None:
                fields["seed"] = request.seed
        if request.reference_images:
            fields["image_urls"] = list(request.reference_images)
        return fields

    def _to_status(self, task_id: str, data: dict[str, Any]) -> TaskStatus:
        raw = str(data.get("state") or "").lower()
        state = STATES.get(raw, TaskState.RUNNING)
        images: tuple[ResultImage, ...] = ()
        if state is TaskState.SUCCEEDED:
            images = tuple(ResultImage(url=url) for url in self._result_urls(data))
        error = None
        if state is TaskState.FAILED:
            error = task_error(data.get("failCode"), data.get("failMsg"), self.endpoint.secrets)
        return TaskStatus(
            task_id=task_id,
            state=state,
            progress=percent(data.get("progress")),
            images=images,
            error=error,
        )

    def _result_urls(self, data: dict[str, Any]) -> list[str]:
        raw = data.get("resultJson")
        try:
            result = as_dict(json.loads(raw) if isinstance(raw, str) else raw)
        except (ValueError, RecursionError):
            raise missing(self.endpoint, "readable resultJson") from None
        urls = result.get("resultUrls")
        return [u for u in urls if text_of(u)] if isinstance(urls, list) else []

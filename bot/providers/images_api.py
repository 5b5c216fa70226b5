"""The OpenAI-compatible ``images/generations`` shape that APIYI and BytePlus Ark share.

Synchronous: the answer holds ``data[]`` items with ``url`` or ``b64_json`` (or a per-item
``error``); ``submit`` returns the finished status under a synthetic ``sync-<uuid>`` id, which
``status()`` answers from a small in-memory cache (PROVIDERS.md §5-6). Pixazo's Seedream
endpoints pass the same response through and reuse ``parse_images``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from bot.core.request import GenerationRequest, ResultImage, TaskError, TaskState, TaskStatus
from bot.providers.adapter import HttpProvider, SyncResults
from bot.providers.base import ModelSpec
from bot.providers.calls import Endpoint, missing
from bot.providers.failures import as_dict, body_code_and_message, task_error
from bot.providers.parsing import text_of
from bot.providers.sizes import request_pixels, tier_or_pixels
from bot.providers.transport import sync_read_timeout, with_read_timeout


def sync_task_id() -> str:
    """A synthetic id for a result that came back in the HTTP answer."""
    return f"sync-{uuid.uuid4().hex}"


def parse_images(answer: Any, endpoint: Endpoint, task_id: str) -> TaskStatus:
    """``{"data": [{"url"|"b64_json"|"error"}]}`` → a finished TaskStatus.

    Some images may fail (content filter on one of a batch) while others succeed: that is a
    success with fewer images. All items failing is a FAILED status with the first error. A
    200 answer with a top-level ``error`` and no image is classified the same way (the content
    filter stays the content filter), as the official SDKs do.
    """
    body = as_dict(answer)
    data = body.get("data")
    top_error = _top_error(body, endpoint)
    if not isinstance(data, list):
        if top_error is not None:
            return TaskStatus(task_id=task_id, state=TaskState.FAILED, error=top_error)
        raise missing(endpoint, "image list")
    images: list[ResultImage] = []
    errors: list[TaskError] = []
    for raw in data:
        item = as_dict(raw)
        size = text_of(item.get("size"))
        url, b64 = text_of(item.get("url")), text_of(item.get("b64_json"))
        if url:
            images.append(ResultImage(url=url, size=size))
        elif b64:
            try:
                decoded = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                errors.append(TaskError(code="bad_base64", message="An image arrived damaged."))
                continue
            images.append(ResultImage(data=decoded, size=size))
        elif item.get("error"):
            code, message = body_code_and_message(item)
            errors.append(task_error(code, message, endpoint.secrets))
    if images:
        return TaskStatus(task_id=task_id, state=TaskState.SUCCEEDED, images=tuple(images))
    if top_error is not None:
        errors.insert(0, top_error)
    error = errors[0] if errors else TaskError(code="no_images", message="No image came back.")
    return TaskStatus(task_id=task_id, state=TaskState.FAILED, error=error)


def _top_error(body: dict[str, Any], endpoint: Endpoint) -> TaskError | None:
    """``{"error": {"code", "message"}}`` (or a bare string) beside or instead of ``data``."""
    if not body.get("error"):
        return None
    code, message = body_code_and_message(body)
    if not (code or message):
        return None
    return task_error(code, message, endpoint.secrets)


def sequential_fields(count: int) -> dict[str, Any]:
    """Seedream's sequential generation: one consistent sequence of up to ``count`` images."""
    return {
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": count},
    }


def generation_timeout(
    client: httpx.AsyncClient, request: GenerationRequest, spec: ModelSpec
) -> httpx.Timeout:
    """The client's timeout with the read part a synchronous generation of ``request`` needs
    (``sync_read_timeout``: grows with the image count and size)."""
    read = sync_read_timeout(request.count, request_pixels(request, spec))
    return with_read_timeout(client.timeout, read)


@dataclass(eq=False)
class ImagesApiProvider(HttpProvider):
    """An ``/images/generations`` adapter; subclasses set the path and the count field."""

    generations_path: ClassVar[str]
    synchronous: ClassVar[bool] = True
    #: ``url`` keeps answers small; ``b64_json`` answers are parsed too
    response_format: ClassVar[str] = "url"

    results: SyncResults = field(default_factory=SyncResults, repr=False)

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Generate synchronously (``callback_url`` is ignored: there are no callbacks)."""
        request, spec, wire_model = self.prepare(request)
        body: dict[str, Any] = {
            "model": wire_model,
            "prompt": request.prompt,
            "response_format": self.response_format,
            # Ark's default is true; the bot never wants the "AI generated" stamp by default.
            "watermark": request.watermark,
        }
        size = tier_or_pixels(request, spec)
        if size:
            body["size"] = size
        if request.seed is not None:
            body["seed"] = request.seed
        if request.guidance_scale is not None:
            body["guidance_scale"] = request.guidance_scale
        if request.reference_images:
            body["image"] = self.image_field(request.reference_images)
        if request.sequential:
            body.update(sequential_fields(request.count))
        else:
            body.update(self.count_fields(request.count))
        if request.enhance is not None:
            body["optimize_prompt_options"] = {"mode": request.enhance}
        if request.output_format is not None:
            body["output_format"] = request.output_format
        status = await self.call(
            "POST",
            self.generations_path,
            idempotent=False,
            json_body=body,
            parse=lambda answer: parse_images(answer, self.endpoint, sync_task_id()),
            http_timeout=generation_timeout(self.client, request, spec),
        )
        return self.results.put(status)

    async def status(self, task_id: str) -> TaskStatus:
        """The cached result of a synchronous call (TaskFailedError when no longer held)."""
        return self.results.get(task_id, display=self.display_name, provider=self.name)

    def image_field(self, refs: tuple[str, ...]) -> str | list[str]:
        """References as the provider wants them (a list by default)."""
        return list(refs)

    def count_fields(self, count: int) -> dict[str, Any]:
        """How to ask for ``count`` images (``n`` by default)."""
        return {"n": count} if count > 1 else {}

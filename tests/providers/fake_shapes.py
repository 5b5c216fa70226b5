"""The documented request/response shapes each fake provider speaks (PROVIDERS.md §1-6).

A ``Shape`` turns the fake's provider-neutral task (states ``queued``/``running``/
``succeeded``/``failed``, a list of result URLs) into one provider's JSON, and renders that
provider's error bodies for the canned error kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: canned error kinds → HTTP status (a Shape may move the status into the body, as KIE does)
ERROR_KINDS: dict[str, int] = {
    "unauthorized": 401,
    "no_credits": 402,
    "rate_limited": 429,
    "server_error": 500,
    "unavailable": 502,
    "bad_request": 400,
    "content_filter": 400,
    "not_found": 404,
}


@dataclass
class FakeTask:
    """One task (or synchronous call) the fake has accepted."""

    id: str
    body: dict[str, Any]
    requested: int
    callback_url: str | None
    created: float
    step: int = 0
    forced: str | None = None
    callback_sent: bool = False
    urls: list[str] = field(default_factory=list)
    #: time mode: seconds from creation to finish
    duration: float | None = None


class Shape:
    """Base: one provider family's routes, auth and bodies."""

    name: ClassVar[str]
    auth_header: ClassVar[str] = "Authorization"
    auth_prefix: ClassVar[str] = "Bearer "
    submit_paths: ClassVar[tuple[str, ...]]
    status_path: ClassVar[str | None] = None
    status_method: ClassVar[str] = "GET"
    synchronous: ClassVar[bool] = False
    env_prefix: ClassVar[str]

    def requested(self, body: dict[str, Any]) -> int:
        return 1

    def callback_url(self, body: dict[str, Any]) -> str | None:
        return None

    def state_word(self, state: str) -> str:
        return state

    def submitted(self, task: FakeTask) -> dict[str, Any]:
        raise NotImplementedError

    def status_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def callback_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        return self.status_body(task, state, fail)

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        return status, {"error": {"code": kind, "message": MESSAGES.get(kind, kind)}}

    def status_task_id(self, match: dict[str, str], query: dict[str, str], body: Any) -> str:
        return match.get("task_id", "")


MESSAGES = {
    "unauthorized": "Invalid or missing authentication",
    "no_credits": "Insufficient credits",
    "rate_limited": "Rate limit exceeded, please retry later",
    "server_error": "An unexpected error occurred, please try again later",
    "unavailable": "Bad gateway",
    "bad_request": "Invalid parameter: size",
    "content_filter": "The request failed because the input text may contain sensitive information",
    "not_found": "Task not found",
}


class UnifiedShape(Shape):
    """PoYo and Vidgo (§1-2)."""

    submit_paths = ("/api/generate/submit",)
    status_path = "/api/generate/status/{task_id}"
    WORDS: ClassVar[dict[str, str]] = {
        "queued": "not_started",
        "running": "running",
        "succeeded": "finished",
        "failed": "failed",
    }

    def requested(self, body: dict[str, Any]) -> int:
        return int(body.get("input", {}).get("n", 1))

    def callback_url(self, body: dict[str, Any]) -> str | None:
        return body.get("callback_url")

    def state_word(self, state: str) -> str:
        return self.WORDS[state]

    def submitted(self, task: FakeTask) -> dict[str, Any]:
        data = {"task_id": task.id, "status": "not_started", "created_time": "2025-11-12T10:30:00"}
        return {"code": 200, "data": data}

    def status_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        done = state == "succeeded"
        data = {
            "task_id": task.id,
            "status": self.WORDS[state],
            "progress": {"queued": 0, "running": 50}.get(state, 100 if done else 0),
            "files": [{"file_url": u, "file_type": "image"} for u in task.urls] if done else [],
            "created_time": "2025-11-12T10:30:00",
            "error_message": fail if state == "failed" else None,
        }
        return {"code": 200, "data": data}

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        kinds = {401: "authentication_error", 402: "insufficient_credits", 429: "rate_limit_error"}
        body = {
            "code": status,
            "error": {
                "message": MESSAGES[kind],
                "type": kinds.get(status, "invalid_request_error"),
            },
        }
        return status, body


class PoyoShape(UnifiedShape):
    name = "poyo"
    env_prefix = "POYO"


class VidgoShape(UnifiedShape):
    name = "vidgo"
    env_prefix = "VIDGO"


class ApikleyShape(Shape):
    """KIE Market clone (§4): errors ride in the body ``code`` under HTTP 200 by default."""

    name = "apikley"
    env_prefix = "APIKLEY"
    submit_paths = ("/api/v1/jobs/createTask",)
    status_path = "/api/v1/jobs/recordInfo"
    WORDS: ClassVar[dict[str, str]] = {
        "queued": "waiting",
        "running": "generating",
        "succeeded": "success",
        "failed": "fail",
    }
    #: kinds answered with HTTP 200 and the code in the body (the undocumented-but-seen case)
    in_body: ClassVar[frozenset[str]] = frozenset({"unauthorized", "no_credits", "bad_request"})

    def requested(self, body: dict[str, Any]) -> int:
        return int(body.get("input", {}).get("max_images", 1))

    def callback_url(self, body: dict[str, Any]) -> str | None:
        return body.get("callBackUrl")

    def state_word(self, state: str) -> str:
        return self.WORDS[state]

    def submitted(self, task: FakeTask) -> dict[str, Any]:
        return {"code": 200, "msg": "success", "data": {"taskId": task.id}}

    def _record(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        done = state == "succeeded"
        return {
            "taskId": task.id,
            "model": task.body.get("model"),
            "state": self.WORDS[state],
            "param": json.dumps(task.body),
            "resultJson": json.dumps({"resultUrls": task.urls}) if done else "",
            "failCode": "500" if state == "failed" else "",
            "failMsg": (fail or "") if state == "failed" else "",
            "completeTime": 1698765432000,
            "createTime": 1698765400000,
            "updateTime": 1698765432000,
        }

    def status_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        return {"code": 200, "message": "success", "data": self._record(task, state, fail)}

    def callback_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        ok = state == "succeeded"
        msg = "Playground task completed successfully." if ok else "Playground task failed."
        data = self._record(task, state, fail) | {"costTime": 8}
        return {"code": 200 if ok else 501, "msg": msg, "data": data}

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        body = {"code": status, "msg": MESSAGES[kind], "data": None}
        return (200 if kind in self.in_body else status), body

    def status_task_id(self, match: dict[str, str], query: dict[str, str], body: Any) -> str:
        return query.get("taskId", "")


class PixazoShape(Shape):
    """BytePlus gateway (§3): synchronous Seedream endpoints, flat ``{"error": text}``."""

    name = "pixazo"
    env_prefix = "PIXAZO"
    auth_header = "Ocp-Apim-Subscription-Key"
    auth_prefix = ""
    submit_paths = (
        "/byteplus/v1/getTextToImage",
        "/byteplus/v1/getEditImage",
        "/byteplus/v1/getEditMultiImage",
    )
    status_path = "/ai-model-api-polling/getGenerationResults"
    status_method = "POST"
    synchronous = True
    WORDS: ClassVar[dict[str, str]] = {
        "queued": "pending",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
    }

    def state_word(self, state: str) -> str:
        return self.WORDS[state]

    def submitted(self, task: FakeTask) -> dict[str, Any]:  # the async (job set) mode
        return {"job_set_id": task.id, "status": "pending"}

    def status_body(self, task: FakeTask, state: str, fail: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_set_id": task.id,
            "status": self.WORDS[state],
            "created_at": 1757499942,
            "updated_at": 1757499950,
        }
        if state == "succeeded":
            body["images"] = [{"url": u} for u in task.urls]
        if state == "failed":
            body["error"] = fail
        return body

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        return status, {"error": MESSAGES[kind]}

    def status_task_id(self, match: dict[str, str], query: dict[str, str], body: Any) -> str:
        return str(body.get("job_set_id", "")) if isinstance(body, dict) else ""


class ImagesShape(Shape):
    """OpenAI-compatible ``/images/generations`` (APIYI §5, Ark §6)."""

    synchronous = True

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        codes = {
            "unauthorized": "AuthenticationError",
            "no_credits": "AccountOverdueError",
            "rate_limited": "RateLimitExceeded.EndpointRPMExceeded",
            "server_error": "InternalServiceError",
            "unavailable": "ServiceUnavailable",
            "bad_request": "InvalidParameter",
            "content_filter": "InputTextSensitiveContentDetected",
            "not_found": "InvalidEndpoint.NotFound",
        }
        if kind == "no_credits":
            status = 403  # Ark: AccountOverdueError is a 403
        body = {"error": {"code": codes[kind], "message": MESSAGES[kind], "type": "BadRequest"}}
        return status, body


class ApiyiShape(ImagesShape):
    name = "apiyi"
    env_prefix = "APIYI"
    submit_paths = ("/v1/images/generations",)

    def requested(self, body: dict[str, Any]) -> int:
        if body.get("sequential_image_generation") == "auto":  # a sequence (Y2)
            return int(body.get("sequential_image_generation_options", {}).get("max_images", 15))
        return int(body.get("n", 1))

    def error(self, kind: str, status: int) -> tuple[int, Any]:
        if kind == "no_credits":  # new-api style gateways say it with a 403 and a code
            message = "user quota is not enough"
            return 403, {"error": {"message": message, "code": "insufficient_user_quota"}}
        if kind == "content_filter":
            message = (
                "The request failed because the output image may contain sensitive information"
            )
            return 400, {"error": {"message": message, "code": "content_filter"}}
        return super().error(kind, status)


class ArkShape(ImagesShape):
    name = "ark"
    env_prefix = "ARK"
    submit_paths = ("/api/v3/images/generations",)

    def requested(self, body: dict[str, Any]) -> int:
        if body.get("sequential_image_generation") == "auto":
            return int(body.get("sequential_image_generation_options", {}).get("max_images", 15))
        return 1


SHAPES: dict[str, type[Shape]] = {
    cls.name: cls
    for cls in (PoyoShape, VidgoShape, PixazoShape, ApikleyShape, ApiyiShape, ArkShape)
}

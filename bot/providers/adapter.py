"""What every HTTP adapter shares: its model table, URLs, auth headers and JSON calls."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import httpx

from bot.core.errors import RejectedRequestError, TaskFailedError
from bot.core.request import ASPECT_RATIOS, GenerationRequest, TaskStatus
from bot.providers.base import Capabilities, ModelSpec, Provider
from bot.providers.calls import Endpoint, request_json
from bot.providers.failures import as_dict
from bot.providers.parsing import task_id_of
from bot.providers.transport import join_url

T = TypeVar("T")

#: a synchronous provider keeps this many finished results for ``status()``
SYNC_CACHE_SIZE = 128


def generic_spec(model_id: str) -> ModelSpec:
    """Conservative caps for a model id the operator configured but our tables don't know."""
    return ModelSpec(
        id=model_id,
        label=model_id,
        ratios=ASPECT_RATIOS,
        max_count=1,
        max_refs=1,
        prompt_max=2000,
    )


class HttpProvider(Provider):
    """A Provider over JSON/HTTP with a static model table."""

    #: the models this provider offers, the default first
    model_specs: ClassVar[tuple[ModelSpec, ...]] = ()
    synchronous: ClassVar[bool] = False
    supports_callbacks: ClassVar[bool] = False

    @property
    def capabilities(self) -> Capabilities:
        """The table, plus a generic entry when the configured model is not in it."""
        specs = self.model_specs
        configured = self.config.model
        if not any(configured in (spec.id, spec.edit_id) for spec in specs):
            specs = (*specs, generic_spec(configured))
        return Capabilities(
            synchronous=self.synchronous,
            callbacks=self.supports_callbacks,
            models=specs,
            default_model=configured,
        )

    @property
    def endpoint(self) -> Endpoint:
        """Names for messages, and the key to redact from them."""
        key = self.config.api_key.get_secret_value()
        return Endpoint(self.name, self.display_name, (key,) if key else ())

    def auth_headers(self) -> dict[str, str]:
        """Bearer auth; Pixazo overrides this."""
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def url(self, path: str) -> str:
        """A documented path under the configured base URL."""
        return join_url(self.config.base_url, path)

    async def call(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        check: Callable[[Any], None] | None = None,
        parse: Callable[[Any], T],
        http_timeout: httpx.Timeout | None = None,
    ) -> T:
        """One JSON call with our headers and the matching retry policy.

        ``parse`` turns the body into the result inside the retry loop (an unreadable answer
        is a provider fault); ``http_timeout`` replaces the client's for this call.
        """
        return await request_json(
            self.client,
            method,
            self.url(path),
            endpoint=self.endpoint,
            headers={**self.extra_headers, **self.auth_headers(), "Accept": "application/json"},
            idempotent=idempotent,
            json_body=json_body,
            params=params,
            check=check,
            parse=parse,
            http_timeout=http_timeout,
        )

    def prepare(self, request: GenerationRequest) -> tuple[GenerationRequest, ModelSpec, str]:
        """Validate (the safety net), and pick the model id to send: ``edit_id`` with refs,
        unless the references only guide a new image and the base model takes them."""
        request = self.validate(request)
        spec = self.capabilities.model(request.model)
        base = request.guided and spec.base_takes_refs
        wire = spec.edit_id if request.is_edit and spec.edit_id and not base else spec.id
        return request, spec, wire

    def callback_fields(
        self, body: bytes, id_key: str
    ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """A callback's task id, its ``data`` object and the whole payload.

        Bodies are read defensively (``data`` first, then the top level); one without a task
        id is refused, which the web route answers with 400.
        """
        try:
            payload = as_dict(json.loads(body))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            payload = {}
        data = as_dict(payload.get("data"))
        task_id = task_id_of(data.get(id_key)) or task_id_of(payload.get(id_key))
        if task_id is None:
            raise RejectedRequestError(
                f"Malformed {self.display_name} callback (no task id).", provider=self.name
            )
        return task_id, data, payload


class SyncResults:
    """The last few finished results of a synchronous provider, so ``status()`` can answer.

    Lost on restart; ``status()`` of an unknown synthetic id then raises TaskFailedError.
    """

    def __init__(self, size: int = SYNC_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, TaskStatus] = OrderedDict()

    def put(self, status: TaskStatus) -> TaskStatus:
        """Remember ``status`` and return it."""
        self._items[status.task_id] = status
        self._items.move_to_end(status.task_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return status

    def get(self, task_id: str, *, display: str, provider: str) -> TaskStatus:
        """The remembered status, or a clear error for an id we no longer know."""
        try:
            return self._items[task_id]
        except KeyError:
            raise TaskFailedError(
                f"{display} answers synchronously; the result of {task_id} is no longer held.",
                provider=provider,
            ) from None

    def __repr__(self) -> str:
        return f"<SyncResults {len(self._items)} held>"

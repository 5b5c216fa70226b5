"""Fake Seedream provider APIs for tests: aiohttp.web on 127.0.0.1, an ephemeral port.

One ``FakeProvider(flavor)`` speaks one provider's documented API (PROVIDERS.md §1-6, shapes in
``fake_shapes.py``): ``poyo``, ``vidgo``, ``pixazo``, ``apikley``, ``apiyi`` or ``ark``. It serves
real PNG/JPEG images (made with Pillow) at result URLs on itself. Reusable by any test suite::

    async with FakeProvider("poyo") as fake:              # in the test's event loop
        provider = fake.provider(client)                  # adapter pointed at the fake
        env = fake.env()                                  # POYO_API_KEY, POYO_BASE_URL

    with FakeProvider("ark").running_in_thread() as fake:  # own loop in a thread
        subprocess.run([...], env={**os.environ, **fake.env()})

Scripting (``fake.script``, a ``Script``; change it any time):
    latency        seconds before each API answer (on a synchronous flavor: a slow generation)
    stall          routes ("submit", "status", "image") that never answer: the request is
                   held until the fake stops (a provider that accepts and then hangs)
    states         step mode (default): each status request moves a task one step along
                   ("queued", "running", "succeeded"); submit answers the first state
    finish_after   time mode instead: tasks run, then finish this many seconds after submit
                   (and the callback is POSTed then) -- what job-engine/e2e tests want
    fail           the task fails with this message (e.g. "... violates our content policy")
    images         how many results a finished task delivers (None: as many as requested)
    image_format   "png" or "jpeg"; html_images: result indexes that serve an HTML page
    b64            synchronous answers carry ``b64_json`` instead of URLs
    callbacks      POST the documented callback body to the submitted callback_url/callBackUrl
                   when a task becomes terminal (on by default)
    pixazo_async   Pixazo answers a ``job_set_id`` and is polled (its undocumented async mode)
    duration       time mode with a distribution: a callable drawing each task's run time
                   (overrides ``finish_after``); the drawn value is ``task.duration``
    max_in_flight  tasks-in-flight limit: a submit while this many tasks are unfinished is
                   refused 429 (KIE's "too many tasks", before any task is created)
    submit_rate    (count, seconds): at most ``count`` accepted submits in any ``seconds``;
                   more are refused 429
    limit_retry_after   the Retry-After header sent with those two 429s (None: no header)

Errors and inspection:
    fake.submits [(loop time, HTTP status)] of every submit answered; fake.peak_in_flight
    fake.fail_next(route, kind, times=1, retry_after=None, http_status=None, body=None,
                   headers=None)        headers: extra response headers (Location, X-Request-Id)
        route: "submit", "status" or "image"; kind: "unauthorized", "no_credits",
        "rate_limited", "server_error", "unavailable", "bad_request", "content_filter",
        "not_found" (rendered in the provider's own error shape), "malformed" (not JSON),
        "truncated" (the normal body cut in half), "html" (images only) or an int status.
    fake.count(route=None), fake.requests (Recorded: route, method, path, query, headers, body)
    fake.tasks, fake.callbacks_sent [(url, status or exception name)]
    await fake.finish(task_id, state=None)            force a task terminal (+ callback)
    fake.callback_body(task_id, state=None) -> bytes  the documented callback for a task
    await fake.post_callback(url, body)               POST any body somewhere, returns status

A request without the right key (``Authorization: Bearer`` or Pixazo's
``Ocp-Apim-Subscription-Key``) is answered with the provider's 401 body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from bot.providers import PROVIDER_TYPES
from bot.providers.base import Provider, ProviderConfig
from bot.providers.configure import build_provider
from tests.providers.fake_shapes import ERROR_KINDS, SHAPES, FakeTask, Shape

FLAVORS = tuple(SHAPES)
_COLORS = [(200, 80, 40), (40, 160, 90), (60, 90, 200), (220, 200, 40)]
_CACHE: dict[tuple[str, int], bytes] = {}
HTML_PAGE = b"<!doctype html><html><body>Access denied</body></html>"


def make_image(fmt: str = "png", index: int = 0) -> bytes:
    """A small real image (64x48) in ``fmt``; a different color per index."""
    key = (fmt, index % len(_COLORS))
    if key not in _CACHE:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), _COLORS[key[1]]).save(buffer, "JPEG" if fmt == "jpeg" else "PNG")
        _CACHE[key] = buffer.getvalue()
    return _CACHE[key]


@dataclass
class Script:
    """What the fake does; see the module docstring."""

    latency: float = 0.0
    states: tuple[str, ...] = ("queued", "running", "succeeded")
    finish_after: float | None = None
    fail: str | None = None
    fail_code: str = "InternalServiceError"
    images: int | None = None
    image_format: str = "png"
    html_images: frozenset[int] = frozenset()
    b64: bool = False
    callbacks: bool = True
    pixazo_async: bool = False
    stall: frozenset[str] = frozenset()
    duration: Callable[[], float] | None = None
    max_in_flight: int | None = None
    submit_rate: tuple[int, float] | None = None
    limit_retry_after: str | None = None


@dataclass
class Recorded:
    """One request the fake received."""

    route: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Failure:
    kind: str | int
    times: int
    retry_after: str | None
    http_status: int | None
    body: Any
    headers: dict[str, str] | None = None


@dataclass
class FakeProvider:
    """A fake provider server; ``async with`` it or use ``running_in_thread()``."""

    flavor: str
    api_key: str = ""
    prefix: str = ""
    script: Script = field(default_factory=Script)
    requests: list[Recorded] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    callbacks_sent: list[tuple[str, int | str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shape: Shape = SHAPES[self.flavor]()
        self.api_key = self.api_key or f"fk-{self.flavor}-{secrets.token_hex(12)}"
        self.base_url = ""
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        #: every submit answered: (loop time, HTTP status)
        self.submits: list[tuple[float, int]] = []
        self.peak_in_flight = 0
        self._accepted_at: deque[float] = deque()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> FakeProvider:
        self._stopping.clear()
        app = web.Application(client_max_size=16 * 2**20)
        p, shape = self.prefix, self.shape
        for path in shape.submit_paths:
            app.router.add_post(p + path, self._submit)
        if shape.status_path:
            app.router.add_route(shape.status_method, p + shape.status_path, self._status)
        app.router.add_get(p + "/files/{name}", self._image)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}{self.prefix}"
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        self._stopping.set()  # releases stalled requests
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[FakeProvider]:
        """Serve from a background thread with its own loop (for subprocess tests)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    # -- helpers for tests -----------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        prefix = self.shape.env_prefix
        return {f"{prefix}_API_KEY": self.api_key, f"{prefix}_BASE_URL": self.base_url, **extra}

    def config(self, model: str | None = None, *, api_key: str | None = None) -> ProviderConfig:
        return ProviderConfig(
            name=self.flavor,
            api_key=SecretStr(self.api_key if api_key is None else api_key),
            base_url=self.base_url,
            model=model or PROVIDER_TYPES[self.flavor].default_model,
        )

    def provider(self, client: httpx.AsyncClient, model: str | None = None, **kw: Any) -> Provider:
        return build_provider(self.config(model, **kw), client)

    def fail_next(
        self,
        route: str,
        kind: str | int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        http_status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._failures.setdefault(route, []).append(
            _Failure(kind, times, retry_after, http_status, body, headers)
        )

    def count(self, route: str | None = None) -> int:
        return sum(1 for r in self.requests if route is None or r.route == route)

    def last(self, route: str = "submit") -> Recorded:
        return [r for r in self.requests if r.route == route][-1]

    def callback_body(self, task_id: str, state: str | None = None) -> bytes:
        task = self.tasks[task_id]
        body = self.shape.callback_body(task, state or self._terminal(), self.script.fail)
        return json.dumps(body).encode()

    async def post_callback(
        self, url: str, body: bytes, headers: dict[str, str] | None = None
    ) -> int:
        assert self._session is not None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        async with self._session.post(url, data=body, headers=hdrs) as response:
            return response.status

    async def finish(self, task_id: str, state: str | None = None) -> None:
        task = self.tasks[task_id]
        task.forced = state or self._terminal()
        await self._deliver_callback(task, task.forced)

    # -- request handling ------------------------------------------------------------------
    async def _record(self, request: web.Request, route: str) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(
            Recorded(
                route,
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return body

    def _authorized(self, request: web.Request) -> bool:
        expected = self.shape.auth_prefix + self.api_key
        return request.headers.get(self.shape.auth_header) == expected

    def _pop_failure(self, route: str) -> _Failure | None:
        queue = self._failures.get(route) or []
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _error(self, kind: str, failure: _Failure | None = None) -> web.Response:
        status, body = self.shape.error(kind, ERROR_KINDS[kind])
        headers = {}
        if failure is not None:
            status = failure.http_status or status
            body = failure.body if failure.body is not None else body
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            headers.update(failure.headers or {})
        return web.json_response(body, status=status, headers=headers)

    async def _answer(self, request: web.Request, route: str, normal: Any) -> web.StreamResponse:
        body = await self._record(request, route)
        if self.script.latency:  # cut short when the fake stops, so stop() never waits on it
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.script.latency):
                    await self._stopping.wait()
        if route in self.script.stall:
            await self._stopping.wait()
        if not self._authorized(request):
            return self._error("unauthorized")
        failure = self._pop_failure(route)
        if failure is not None and failure.kind not in ("malformed", "truncated"):
            if isinstance(failure.kind, int):
                payload = failure.body if failure.body is not None else {"error": "scripted"}
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                headers.update(failure.headers or {})
                return web.json_response(payload, status=failure.kind, headers=headers)
            return self._error(failure.kind, failure)
        result = normal(body)
        if isinstance(result, web.StreamResponse):
            return result
        text = json.dumps(result)
        if failure is not None:
            text = (
                "<html>502 Bad Gateway" if failure.kind == "malformed" else text[: len(text) // 2]
            )
        return web.Response(text=text, content_type="application/json")

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request, "submit", self._create)
        self.submits.append((asyncio.get_running_loop().time(), response.status))
        return response

    def in_flight(self) -> int:
        """Tasks accepted and not yet finished."""
        last = len(self.script.states) - 1
        step_mode = self.script.finish_after is None and self.script.duration is None
        return sum(
            1
            for task in self.tasks.values()
            if not task.forced and not (step_mode and task.step >= last)
        )

    def _over_limit(self) -> web.Response | None:
        """The 429 for a submit past the in-flight limit or the submit rate, else None."""
        now = asyncio.get_running_loop().time()
        refuse = self.script.max_in_flight is not None and (
            self.in_flight() >= self.script.max_in_flight
        )
        if self.script.submit_rate is not None and not refuse:
            count, per = self.script.submit_rate
            while self._accepted_at and self._accepted_at[0] <= now - per:
                self._accepted_at.popleft()
            refuse = len(self._accepted_at) >= count
        if refuse:
            retry_after = self.script.limit_retry_after
            return self._error("rate_limited", _Failure("rate_limited", 1, retry_after, None, None))
        self._accepted_at.append(now)
        return None

    async def _status(self, request: web.Request) -> web.StreamResponse:
        def normal(body: Any) -> Any:
            task_id = self.shape.status_task_id(dict(request.match_info), dict(request.query), body)
            task = self.tasks.get(task_id)
            if task is None:
                return self._error("not_found")
            state = self._advance(task)
            if state in ("succeeded", "failed"):
                self._spawn(self._deliver_callback(task, state))
            return self.shape.status_body(task, state, self.script.fail)

        return await self._answer(request, "status", normal)

    def _create(self, body: Any) -> Any:
        refusal = self._over_limit()
        if refusal is not None:
            return refusal
        body = body if isinstance(body, dict) else {}
        loop = asyncio.get_running_loop()
        task = FakeTask(
            id=self._new_id(),
            body=body,
            requested=self.shape.requested(body),
            callback_url=self.shape.callback_url(body),
            created=loop.time(),
        )
        ext = "jpg" if self.script.image_format == "jpeg" else "png"
        delivered = task.requested if self.script.images is None else self.script.images
        task.urls = [f"{self.base_url}/files/{task.id}-{i}.{ext}" for i in range(delivered)]
        self.tasks[task.id] = task
        if self.shape.synchronous and not self.script.pixazo_async:
            task.forced = self._terminal()
            return self._sync_answer(task)
        if self.script.duration is not None:
            task.duration = self.script.duration()
            self._spawn(self._finish_later(task, task.duration))
        elif self.script.finish_after is not None:
            task.duration = self.script.finish_after
            self._spawn(self._finish_later(task, self.script.finish_after))
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight())
        return self.shape.submitted(task)

    def _sync_answer(self, task: FakeTask) -> dict[str, Any]:
        if self.script.fail:
            data: list[dict[str, Any]] = [
                {"error": {"code": self.script.fail_code, "message": self.script.fail}}
            ]
        elif self.script.b64 or task.body.get("response_format") == "b64_json":
            data = [
                {"b64_json": base64.b64encode(self._image_bytes(i)).decode(), "size": "64x48"}
                for i in range(len(task.urls))
            ]
        else:
            data = [{"url": url, "size": "64x48"} for url in task.urls]
        usage = {"generated_images": len(task.urls), "output_tokens": 12, "total_tokens": 12}
        return {
            "model": task.body.get("model"),
            "created": 1757499942,
            "data": data,
            "usage": usage,
        }

    def _advance(self, task: FakeTask) -> str:
        if task.forced:
            return task.forced
        if self.script.finish_after is not None or self.script.duration is not None:
            return "running"
        task.step = min(task.step + 1, len(self.script.states) - 1)
        state = self.script.states[task.step]
        return self._terminal() if state in ("succeeded", "failed") else state

    def _terminal(self) -> str:
        return "failed" if self.script.fail else "succeeded"

    async def _finish_later(self, task: FakeTask, delay: float) -> None:
        await asyncio.sleep(delay)
        if not task.forced:
            task.forced = self._terminal()
            await self._deliver_callback(task, task.forced)

    async def _deliver_callback(self, task: FakeTask, state: str) -> None:
        if not (self.script.callbacks and task.callback_url) or task.callback_sent:
            return
        task.callback_sent = True
        try:
            status: int | str = await self.post_callback(
                task.callback_url, self.callback_body(task.id, state)
            )
        except (aiohttp.ClientError, OSError) as exc:
            status = type(exc).__name__
        self.callbacks_sent.append((task.callback_url, status))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _new_id(self) -> str:
        n = next(self._ids)
        if self.flavor == "apikley":
            return f"task_bytedance_{1765176547151 + n}"
        if self.flavor == "pixazo":
            return f"job-{n}-{secrets.token_hex(4)}"
        return f"task-unified-{1757165031 + n}-{secrets.token_hex(4)}"

    def _image_bytes(self, index: int) -> bytes:
        if index in self.script.html_images:
            return HTML_PAGE
        return make_image(self.script.image_format, index)

    async def _image(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, "image")
        if "image" in self.script.stall:
            await self._stopping.wait()
        name = request.match_info["name"]
        index = int(name.rsplit("-", 1)[-1].split(".")[0])
        failure = self._pop_failure("image")
        if failure is not None:
            if failure.kind == "rate_limited":
                return web.Response(status=429, headers={"Retry-After": failure.retry_after or "0"})
            if failure.kind in ("server_error", "unavailable") or isinstance(failure.kind, int):
                status = failure.kind if isinstance(failure.kind, int) else 503
                return web.Response(status=status, text="upstream failed")
            if failure.kind == "html":
                return web.Response(body=HTML_PAGE, content_type="text/html")
        data = self._image_bytes(index)
        kind = "text/html" if data == HTML_PAGE else f"image/{self.script.image_format}"
        return web.Response(body=data, content_type=kind)

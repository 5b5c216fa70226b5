"""Property: no provider answer, however broken, is anything but a provider error.

Every adapter's submit, status and callback parsing is fed random bodies, the documented
bodies mutated (fields deleted, retyped, replaced; NaN and infinities; JSON inside strings),
truncated JSON, absurdly deep nesting and raw bytes, under random HTTP statuses. Whatever comes
back must be a well-formed ``TaskStatus``/``CallbackHint``, and whatever is raised a
``ProviderError`` (the family the job engine retries, fails over or reports), never a
``TypeError``, ``KeyError``, ``RecursionError`` or the like.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stamina
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.errors import ProviderError
from bot.models import CallbackHint, GenerationRequest, TaskState, TaskStatus
from bot.providers import PROVIDER_TYPES
from bot.providers.base import Provider, ProviderConfig
from tests.providers.fake_shapes import SHAPES, FakeTask

#: Hypothesis examples per adapter; each feeds its drawn body and QUICK seeded mutations to
#: every entry point of the adapter: 3,000 bodies each, the whole file in ~20 s on 2 busy cores
EXAMPLES = 500
QUICK = 5
KEY = "sk-fuzz-0123456789abcdef"
URL = "https://cdn.example/img/1.png"

#: the field names the adapters look for, so random objects often hit a parser's path
NAMES = (
    "data", "task_id", "taskId", "status", "state", "files", "file_url", "file_type",
    "progress", "error", "error_message", "code", "msg", "message", "detail", "type",
    "resultJson", "resultUrls", "failCode", "failMsg", "images", "url", "b64_json", "size",
    "job_set_id", "usage", "created",
)  # fmt: skip
WORDS = (
    "finished", "failed", "success", "fail", "succeeded", "running", "queued", "not_started",
    "waiting", "generating", "pending", "processing", "error", "image", "content_filter",
    "InputTextSensitiveContentDetected", "ModelNotOpen", "insufficient credits", "sync-1",
    URL, "aGVsbG8=", "2048x2048", "", "NaN",
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=10,
)


def _task(task_id: str) -> FakeTask:
    return FakeTask(
        id=task_id,
        body={"model": "m", "input": {"n": 2}},
        requested=2,
        callback_url=None,
        created=0.0,
        urls=[URL, URL.replace("1.png", "2.png")],
    )


def documented_bodies(flavor: str) -> list[Any]:
    """The shapes the fakes speak (PROVIDERS.md), in every state, to mutate."""
    shape = SHAPES[flavor]()
    task = _task("task-1")
    bodies: list[Any] = []
    if not shape.synchronous or flavor == "pixazo":
        bodies.append(shape.submitted(task))
        for state in ("queued", "running", "succeeded", "failed"):
            bodies.append(shape.status_body(task, state, "The prompt violates our content policy"))
            bodies.append(shape.callback_body(task, state, "boom"))
    if shape.synchronous:
        bodies.append(
            {
                "model": "m",
                "created": 1757499942,
                "data": [{"url": URL, "size": "64x48"}, {"b64_json": "aGVsbG8=", "size": "1x1"}],
                "usage": {"generated_images": 2, "output_tokens": 12, "total_tokens": 12},
            }
        )
        bodies.append({"data": [{"error": {"code": "content_filter", "message": "sensitive"}}]})
    for kind, status in (("unauthorized", 401), ("content_filter", 400), ("not_found", 404)):
        bodies.append(shape.error(kind, status)[1])
    return bodies


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(value: Any, path: tuple[Any, ...], op: str, new: Any) -> Any:
    """``value`` with the node at ``path`` replaced, deleted, stringified or wrapped."""
    if not path:
        if op == "string":
            return json.dumps(value, allow_nan=True)
        if op == "wrap":
            return [value]
        if op == "nan":
            return math.nan
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if op == "delete" and not rest:
        del copy[head]
        return copy
    copy[head] = _mutate(copy[head], rest, op, new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, flavor: str) -> Any:
    body = draw(st.sampled_from(documented_bodies(flavor)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(body))))
        op = draw(st.sampled_from(["replace", "delete", "string", "wrap", "nan"]))
        body = _mutate(body, path, op, draw(json_values))
    return body


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


_RANDOM_SCALARS: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 100, 101, 2**63, -(2**70), 0.5, 1e308, -1e-300,
    math.nan, math.inf, -math.inf, "", " ", "\x00", "\u202e", "9" * 40, "[]", "{}", *WORDS,
)  # fmt: skip


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return rng.choice(_RANDOM_SCALARS)
    if roll < 0.8:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(NAMES): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def quick_bodies(rng: random.Random, flavor: str, count: int) -> list[bytes]:
    """``count`` more broken bodies from a seeded ``Random``: the documented shapes mutated
    one to three times, some then cut short or with a byte changed. Hypothesis draws the
    seed (and replays it); these cost a fraction of a drawn body, so each example feeds many."""
    documented = documented_bodies(flavor)
    out = []
    for _ in range(count):
        body = rng.choice(documented)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(list(_paths(body)))
            op = rng.choice(["replace", "delete", "string", "wrap", "nan"])
            body = _mutate(body, path, op, _random_json(rng))
        raw = _encode(body)
        roll = rng.random()
        if roll < 0.15:
            raw = raw[: rng.randrange(len(raw) + 1)]
        elif roll < 0.3:
            index = rng.randrange(len(raw))
            raw = raw[:index] + bytes([rng.randrange(256)]) + raw[index + 1 :]
        out.append(raw)
    return out


def bodies(flavor: str) -> st.SearchStrategy[bytes]:
    """Everything a broken or hostile provider might answer."""
    documented = st.sampled_from(documented_bodies(flavor)).map(_encode)
    return st.one_of(
        mutated(flavor).map(_encode),
        mutated(flavor).map(_encode),
        json_values.map(_encode),
        st.tuples(documented, st.integers(min_value=0)).map(lambda t: t[0][: t[1] % len(t[0])]),
        documented.map(lambda b: b.replace(b'"', b"'", 1)),
        documented.map(lambda b: b.replace(b"2", b"NaN").replace(b"0", b"-Infinity")),
        st.integers(min_value=500, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(min_value=500, max_value=50_000).map(lambda n: b'{"data":' * n + b"1"),
        st.just(b"9" * 5000),
        st.binary(max_size=64),
        st.text(max_size=40).map(str.encode),
    )


statuses = st.one_of(
    st.just(200),
    st.just(200),
    st.sampled_from([201, 204, 301, 302, 304, 307, 400, 401, 402, 403, 404, 408, 422, 429, 455]),
    st.sampled_from([500, 501, 502, 503, 505]),
    st.integers(min_value=100, max_value=599),
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
headers = st.dictionaries(
    st.sampled_from(
        [
            "Retry-After",
            "X-Request-Id",
            "X-Tt-Logid",
            "Content-Type",
            "Location",
            "Content-Encoding",
        ]
    ),
    st.one_of(header_text, st.sampled_from(["gzip", "br", "deflate", "zstd", "identity", "/x"])),
    max_size=3,
)


class Answer:
    """What the mock provider answers next."""

    status: int = 200
    content: bytes = b"{}"
    headers: dict[str, str] = {}  # noqa: RUF012 - replaced, never mutated

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, content=self.content, headers=self.headers)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """One attempt per call: the retry policy has its own tests, this one is about parsing."""
    with stamina.set_testing(True, attempts=1):
        yield


def _provider(flavor: str, answer: Answer) -> Provider:
    cls = PROVIDER_TYPES[flavor]
    config = ProviderConfig(
        name=flavor,
        api_key=SecretStr(KEY),
        base_url="https://fuzz.invalid",
        model=cls.default_model,
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return cls(config=config, client=client)


def _check(result: object) -> None:
    """A result that came back must be whole: an id, a state, usable images."""
    if isinstance(result, CallbackHint):
        assert isinstance(result.task_id, str)
        assert result.task_id
        return
    assert isinstance(result, TaskStatus)
    assert isinstance(result.task_id, str)
    assert result.task_id
    assert result.progress is None or 0 <= result.progress <= 100
    for image in result.images:
        assert isinstance(image.url, str) or isinstance(image.data, bytes)
    if result.state is TaskState.FAILED:
        assert result.error is not None


#: what each adapter parses from the network: every example is fed to all of its entry points
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "poyo": ("submit", "status", "callback"),
    "vidgo": ("submit", "status", "callback"),
    "apikley": ("submit", "status", "callback"),
    "pixazo": ("submit", "status"),  # its status polls the gateway's job-set endpoint
    "apiyi": ("submit",),  # synchronous: status() reads a local cache, there are no callbacks
    "ark": ("submit",),
}


@pytest.mark.parametrize("flavor", list(ENTRY_POINTS))
def test_no_answer_escapes_the_provider_error_family(
    flavor: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The provider-error log lines are still written (and so exercised); per-request DEBUG
    # chatter is not, which would triple the run time.
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO, logger="bot.providers")
    loop = asyncio.new_event_loop()
    answer = Answer()
    provider = _provider(flavor, answer)
    request = GenerationRequest(prompt="a lighthouse")
    calls: dict[str, Callable[[bytes], Any]] = {
        "submit": lambda _: loop.run_until_complete(provider.submit(request)),
        "status": lambda _: loop.run_until_complete(provider.status("task-1")),
        "callback": provider.parse_callback,
    }
    entries = [calls[name] for name in ENTRY_POINTS[flavor]]
    fed = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies(flavor), status=statuses, extra=headers, seed=st.integers(0, 2**32))
    def feed(body: bytes, status: int, extra: dict[str, str], seed: int) -> None:
        nonlocal fed
        # a plain seeded Random: Hypothesis' own randoms() would make each call a draw
        for content in [body, *quick_bodies(random.Random(seed), flavor, QUICK)]:
            fed += 1
            answer.status, answer.content, answer.headers = status, content, extra
            for call in entries:
                try:
                    result = call(content)
                except ProviderError as exc:
                    said = exc.user_message
                else:
                    _check(result)
                    continue
                assert KEY not in said
            status = 200  # the quick bodies are mostly read as successful answers

    try:
        feed()
    finally:
        loop.run_until_complete(provider.client.aclose())
        loop.close()
    assert fed >= EXAMPLES * (1 + QUICK)  # thousands of bodies reached every entry point


#: answers that once escaped as TypeError, ValueError, RecursionError or httpx.InvalidURL
KNOWN_BREAKERS: list[tuple[str, int, dict[str, str], bytes]] = [
    ("redirect to a Location httpx cannot rebuild", 301, {"Location": "A:0"}, b"{}"),
    ("a body that fails its Content-Encoding", 200, {"Content-Encoding": "gzip"}, b"{}"),
    ("nesting deeper than the parser's stack", 200, {}, b"[" * 100_000 + b"]" * 100_000),
    ("an integer longer than Python will parse", 200, {}, b"9" * 5000),
    ("a NaN progress", 200, {}, b'{"code": 200, "data": {"task_id": "t", "status": "running",'
                               b' "progress": NaN}}'),
    ("an infinite progress", 200, {}, b'{"code": 200, "data": {"task_id": "t",'
                                      b' "status": "running", "progress": -Infinity}}'),
    ("a task id that is an object", 200, {}, b'{"code": 200, "data": {"task_id": {"a": 1},'
                                             b' "taskId": [1]}, "job_set_id": {"a": 1}}'),
    ("result links that are objects", 200, {}, b'{"data": [{"url": {"u": 1}, "b64_json": 7}]}'),
    ("resultJson nested beyond the stack", 200, {},
     b'{"code": 200, "data": {"taskId": "t", "state": "success", "resultJson": "'
     + b"[" * 5000 + b'"}}'),
]  # fmt: skip


@pytest.mark.parametrize("flavor", list(ENTRY_POINTS))
@pytest.mark.parametrize(("why", "status", "extra", "body"), KNOWN_BREAKERS)
def test_known_breakers_are_provider_faults(
    flavor: str, why: str, status: int, extra: dict[str, str], body: bytes
) -> None:
    loop = asyncio.new_event_loop()
    answer = Answer()
    answer.status, answer.content, answer.headers = status, body, extra
    provider = _provider(flavor, answer)
    try:
        for entry in ENTRY_POINTS[flavor]:
            try:
                if entry == "submit":
                    result: object = loop.run_until_complete(
                        provider.submit(GenerationRequest(prompt="a lighthouse"))
                    )
                elif entry == "status":
                    result = loop.run_until_complete(provider.status("task-1"))
                else:
                    result = provider.parse_callback(body)
            except ProviderError:
                continue
            _check(result)
    finally:
        loop.run_until_complete(provider.client.aclose())
        loop.close()

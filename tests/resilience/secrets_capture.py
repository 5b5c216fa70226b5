"""Proof, over the whole suite at DEBUG level, that no secret leaks from the bot.

"Appears in a log line" means: in a line the bot's configured logging would *write*. So the
capture is a root handler built as ``bot.log.setup_logging`` builds the bot's own (the same
``RedactingFilter``, the same format, root at DEBUG, ``aiohttp.access`` at WARNING), with the
secrets registered as ``bot.cli.run_command`` registers them: the Discord token and every
provider key. The filter then replaces exact copies, so what this can catch is what the bot's
redaction would miss: a key cut short, quoted, encoded, or split across a message.

"Or message": every request body the bot sent a fake Discord (messages, edits, embeds,
interaction replies and follow-ups) is searched too, with no redaction at all.

Known secrets: the harness's ``BOT_TOKEN`` and ``PROVIDER_KEY``, the token of every
``FakeDiscord`` made with one and the key of every ``FakeProvider`` (both tracked as they are
created). Records of the fakes' own loggers (``tests.*``) are not the bot's and are skipped.

Checked at the teardown of every test (``secrets_never_leak``, autouse from
``tests/conftest.py``) and once more at the end of the session for what came after the last
test; no ``pytest_sessionfinish`` and no reliance on test order.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import logging
import urllib.parse
import weakref
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.log import TEXT_FORMAT, RedactingFilter
from tests.e2e.harness import BOT_TOKEN, PROVIDER_KEY
from tests.fakes.discord_api import FakeDiscord
from tests.providers.fakes import FakeProvider

#: a leak of at least this many consecutive characters of a secret is a leak
FRAGMENT = 20


class BotLogCapture(logging.Handler):
    """The bot's handler, writing to memory, on a copy of each record.

    ``RedactingFilter`` rewrites the record it filters; the copy leaves other handlers
    (``caplog``) seeing records exactly as they would without this capture.
    """

    def __init__(self, redactor: RedactingFilter) -> None:
        super().__init__(logging.NOTSET)
        self.redactor = redactor
        self.addFilter(redactor)
        self.setFormatter(logging.Formatter(TEXT_FORMAT))
        self.lines: list[str] = []

    def use(self, redactor: RedactingFilter) -> None:
        """Swap the redacting filter."""
        self.removeFilter(self.redactor)
        self.redactor = redactor
        self.addFilter(redactor)

    def handle(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("tests."):
            return False  # the fakes' own logging; no part of the bot
        return bool(super().handle(copy.copy(record)))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # pragma: no cover - as logging.StreamHandler does
            self.handleError(record)


@functools.cache
def leak_patterns(secret: str) -> tuple[str, ...]:
    """What a leak of ``secret`` may look like: itself, encoded, or a long enough piece."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
    }
    step = 4
    forms.update(secret[i : i + FRAGMENT] for i in range(0, len(secret) - FRAGMENT + 1, step))
    forms.add(secret[-FRAGMENT:])
    return tuple(sorted(form for form in forms if len(form) >= min(FRAGMENT, len(secret))))


def find_leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Descriptions of every text that shows a secret (or a piece of one).

    One search per pattern over all the texts joined; lines are only looked at on a hit."""
    texts = list(texts)
    joined = "\n".join(texts)
    found = []
    for secret in sorted(s for s in secrets if len(s) >= 8):
        hit = next((form for form in leak_patterns(secret) if form in joined), None)
        if hit is not None:
            lines = [text for text in texts if hit in text]
            found += [f"{secret[:6]}… ({hit!r}) in: {line[:300]}" for line in lines[:3]]
    return found


@dataclass
class SecretWatch:
    """The capture handler, the known secrets and the fakes whose traffic is searched."""

    handler: BotLogCapture
    constants: frozenset[str]
    #: secrets of fakes made since the last check (they may be gone by then)
    recent: set[str] = field(default_factory=set)
    discords: weakref.WeakSet[FakeDiscord] = field(default_factory=weakref.WeakSet)
    #: by id(): a FakeProvider (a dataclass) is not hashable
    providers: weakref.WeakValueDictionary[int, FakeProvider] = field(
        default_factory=weakref.WeakValueDictionary
    )
    seen_requests: weakref.WeakKeyDictionary[FakeDiscord, int] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def secrets(self) -> set[str]:
        """The secrets that matter now: the constants, live fakes' and recent ones."""
        live = {d.token for d in self.discords} | {p.api_key for p in self.providers.values()}
        return {s for s in (self.constants | live | self.recent) if s and len(s) >= 8}

    def new_redactor(self) -> None:
        """A fresh filter with the secrets that matter now (keys of fakes long gone would
        only slow every record down)."""
        self.handler.use(RedactingFilter(self.secrets()))

    def learn(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self.recent.add(secret)
            self.handler.redactor.add_secrets([secret])  # as the bot registers its keys

    def discord_texts(self) -> Iterator[str]:
        """Bodies of the requests made to every fake Discord since the last check."""
        for discord in list(self.discords):
            requests = discord.requests
            start = self.seen_requests.get(discord, 0)
            self.seen_requests[discord] = len(requests)
            for request in requests[start:]:
                names = " ".join(f.filename for f in request.files)
                yield f"{request.method} {request.path} {json.dumps(request.json)} {names}"

    def check(self) -> list[str]:
        """Leaks since the last check (then forgets what it has searched)."""
        secrets = self.secrets()
        lines, self.handler.lines = self.handler.lines, []
        leaks = find_leaks(lines, secrets) + find_leaks(self.discord_texts(), secrets)
        self.recent.clear()
        return leaks


def _track(watch: SecretWatch) -> Generator[None, None, None]:
    """Learn each fake's secret (and each fake Discord) as it is created."""
    discord_init = FakeDiscord.__init__
    provider_post_init = FakeProvider.__post_init__

    def init_discord(self: FakeDiscord, *args: Any, **kwargs: Any) -> None:
        discord_init(self, *args, **kwargs)
        watch.learn(self.token)
        watch.discords.add(self)

    def post_init_provider(self: FakeProvider) -> None:
        provider_post_init(self)
        watch.learn(self.api_key)
        watch.providers[id(self)] = self

    FakeDiscord.__init__ = init_discord  # type: ignore[method-assign]
    FakeProvider.__post_init__ = post_init_provider  # type: ignore[method-assign]
    try:
        yield
    finally:
        FakeDiscord.__init__ = discord_init  # type: ignore[method-assign]
        FakeProvider.__post_init__ = provider_post_init  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def secret_watch() -> Iterator[SecretWatch]:
    """The bot's logging, at DEBUG, captured for the whole session."""
    constants = frozenset({BOT_TOKEN, PROVIDER_KEY})
    watch = SecretWatch(BotLogCapture(RedactingFilter(constants)), constants)
    root = logging.getLogger()
    access = logging.getLogger("aiohttp.access")
    saved = (root.level, access.level)
    root.addHandler(watch.handler)
    root.setLevel(logging.DEBUG)
    access.setLevel(logging.WARNING)  # as setup_logging does
    tracking = _track(watch)
    next(tracking)
    try:
        yield watch
        leaks = watch.check()  # whatever came after the last test's check
        assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:20])
    finally:
        tracking.close()
        root.removeHandler(watch.handler)
        root.setLevel(saved[0])
        access.setLevel(saved[1])


@pytest.fixture(autouse=True)
def secrets_never_leak(secret_watch: SecretWatch) -> Iterator[SecretWatch]:
    """Fails the test in whose time a secret reached a log line or a Discord message."""
    secret_watch.new_redactor()
    yield secret_watch
    leaks = secret_watch.check()
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:20])

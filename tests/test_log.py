"""Logging: text and JSON formats, and secrets that never reach a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.log import REDACTED, setup_logging

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345"
KEY = "sk-live-0123456789abcdef"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_known_secrets_are_redacted_even_at_debug(fmt: str) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", fmt, secrets=[TOKEN, KEY], stream=stream)
    log = logging.getLogger("discord.http")
    log.debug("headers: Authorization: Bot %s", TOKEN)
    log.debug("provider body %r", {"key": KEY})
    try:
        raise RuntimeError(f"failed with {KEY}")
    except RuntimeError:
        logging.getLogger("bot.providers").exception("call failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert KEY not in output
    assert REDACTED in output
    if fmt == "json":
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert [line["logger"] for line in lines] == [
            "discord.http",
            "discord.http",
            "bot.providers",
        ]
        assert "RuntimeError" in lines[-1]["exception"]


@pytest.mark.usefixtures("restore_root")
def test_url_tokens_are_redacted_without_being_registered() -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", "text", stream=stream)
    interaction_token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA"
    logging.getLogger("discord.webhook").debug(
        "PATCH https://discord.com/api/v10/webhooks/123/%s/messages/@original", interaction_token
    )
    logging.getLogger("bot.web").info("callback at https://x.example/callbacks/poyo/s3cr3t-Value_1")
    logging.getLogger("httpx").debug("Authorization: Bearer %s", "abcdefgh12345678")
    output = stream.getvalue()
    assert interaction_token not in output
    assert "s3cr3t-Value_1" not in output
    assert "abcdefgh12345678" not in output


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_extras() -> None:
    stream = io.StringIO()
    setup_logging("INFO", "json", stream=stream)
    logging.getLogger("bot.jobs").info("delivered", extra={"job_id": "AB12CD34"})
    record = json.loads(stream.getvalue())
    assert record["message"] == "delivered"
    assert record["job_id"] == "AB12CD34"
    assert record["level"] == "INFO"

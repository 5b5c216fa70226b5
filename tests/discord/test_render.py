"""Rendering of job cards, results, failures and /status (pure functions, no Discord)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core.job import Job, JobKind, JobOrigin
from bot.core.request import GenerationRequest
from bot.core.states import JobState
from bot.discord import render
from bot.i18n.catalogs import ENGLISH, Catalogs
from bot.images.fit import FittedImage
from bot.quotas.rules import QuotaStatus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


EN = ENGLISH.default


def job(**overrides: object) -> Job:
    values: dict[str, object] = {
        "id": "abcd2345",
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 3,
        "kind": JobKind.IMAGINE,
        "origin": JobOrigin.SLASH,
        "request": GenerationRequest(prompt="a *red* fox", count=2, aspect_ratio="16:9"),
        "state": JobState.QUEUED,
        "quota_day": date(2026, 11, 21),
        "reserved_daily": 2,
        "reserved_bonus": 0,
        "created_at": NOW - timedelta(seconds=95),
        "updated_at": NOW,
    }
    values.update(overrides)
    return Job(**values)  # type: ignore[arg-type]


def fields(embed: object) -> dict[str, str]:
    return {field.name: field.value for field in embed.fields}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "position", "progress", "expected"),
    [
        (JobState.QUEUED, 3, None, "Queued, position 3"),
        (JobState.QUEUED, None, None, "Queued"),
        (JobState.SUBMITTED, None, None, "Generating…"),
        (JobState.RUNNING, None, 40, "Generating… 40%"),
        (JobState.DELIVERING, None, None, "Delivering…"),
        (JobState.DONE, None, None, "Done"),
        (JobState.FAILED, None, None, "Failed"),
        (JobState.CANCELLED, None, None, "Cancelled"),
    ],
)
def test_progress_line(
    state: JobState, position: int | None, progress: int | None, expected: str
) -> None:
    assert (
        render.progress_line(job(state=state), EN, position=position, progress=progress) == expected
    )


def test_prompts_are_escaped_and_shortened() -> None:
    assert render.short_prompt("a *red* fox") == "a \\*red\\* fox"
    shortened = render.short_prompt("x" * 5000, 100)
    assert len(shortened) == 100
    assert shortened.endswith("…")


def test_card_shows_state_request_and_job_id() -> None:
    embed = render.card_embed(job(), EN, position=2)
    assert embed.title == "Imagine · Queued, position 2"
    assert fields(embed) == {"Requested by": "<@3>", "Images": "2", "Size": "16:9"}
    assert embed.footer.text == "Job abcd2345"


def test_edit_cards_count_their_references() -> None:
    request = GenerationRequest(prompt="purple", reference_images=("https://cdn/a.png",) * 2)
    embed = render.card_embed(job(kind=JobKind.EDIT, request=request, state=JobState.RUNNING), EN)
    assert embed.title == "Edit · Generating…"
    assert fields(embed)["References"] == "2"


def test_result_names_model_provider_size_seed_and_what_was_refunded() -> None:
    image = FittedImage(b"x", "a.jpg", "jpeg", 2560, 1440, "original")
    done = job(state=JobState.DELIVERING)
    embed = render.result_embed(done, [image], EN, model="seedream-4.5", provider="PoYo")
    assert fields(embed) == {
        "Requested by": "<@3>",
        "Model": "seedream-4.5",
        "Provider": "PoYo",
        "Size": "2560×1440",
        "Seed": "random",
        "Cost": "1 image (1 refunded)",
    }


def test_cost_reads_reserved_then_charged() -> None:
    assert render.cost_text(job(), EN) == "2 images reserved"
    assert render.cost_text(job(charged=2), EN) == "2 images"
    assert render.cost_text(job(charged=1), EN) == "1 image (1 refunded)"


def test_failure_card_says_why_and_what_came_back() -> None:
    failed = job(state=JobState.FAILED, error_message="The provider is unavailable right now.")
    embed = render.failure_embed(failed, EN, refunded=2)
    assert embed.title == "Imagine · Failed"
    assert fields(embed) == {
        "Why": "The provider is unavailable right now.",
        "Refunded": "2 images",
    }
    assert render.failure_text(failed, "Too slow.", 1, EN) == (
        "Job `abcd2345` failed: Too slow. 1 image refunded."
    )


def test_status_of_one_job() -> None:
    running = job(state=JobState.RUNNING, provider="poyo")
    embed = render.status_embed(running, EN, position=None, now=NOW, provider="PoYo")
    shown = fields(embed)
    assert shown["State"] == "Generating…"
    assert shown["Provider"] == "PoYo"
    assert shown["Elapsed"] == "1 min 35 s"
    assert shown["Cost"] == "2 images reserved"


def test_overview_shows_allowance_bonus_reset_and_recent_jobs() -> None:
    quota = QuotaStatus(
        daily_allowance=10,
        used_today=3,
        remaining_today=7,
        bonus=5,
        reset_at=NOW + timedelta(hours=12),
        blocked=False,
    )
    recent = [job(), dataclasses.replace(job(), id="zzzz2222", state=JobState.DONE, charged=2)]
    shown = fields(render.overview_embed(recent, quota, EN))
    assert shown["Left today"] == "7 of 10"
    assert shown["Bonus credits"] == "5"
    assert shown["Resets"] == f"<t:{int(quota.reset_at.timestamp())}:R>"
    assert "`abcd2345` Queued" in shown["Recent jobs"]
    assert "`zzzz2222` Done" in shown["Recent jobs"]
    assert "Blocked" not in shown


def test_overview_without_jobs_and_when_blocked() -> None:
    quota = QuotaStatus(10, 0, 10, 0, NOW, blocked=True)
    shown = fields(render.overview_embed([], quota, EN))
    assert shown["Recent jobs"] == "None yet."
    assert shown["Blocked"] == "A moderator has blocked you."


def test_the_expected_time_is_written_in_the_readers_language() -> None:
    german = Catalogs(["de"], "de").default
    running = job(state=JobState.RUNNING, submitted_at=NOW - timedelta(seconds=30))
    shown = fields(render.status_embed(running, german, position=None, now=NOW, expected=200))
    assert shown["Erwartet"] == "etwa 3 min (noch etwa 3 min)"
    card = render.card_embed(running, german, progress=40, expected=12)
    assert card.title == "Bild erzeugen · Wird erzeugt… 40 % (etwa 12 s)"

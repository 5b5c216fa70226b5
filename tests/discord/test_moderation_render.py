"""What moderators read: confirmations, mod-log records, the usage CSV and the blocklist."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from bot.core.accounts import UsageReport, UsageTotals
from bot.discord import moderation_render as ui
from bot.discord import usage_render
from bot.discord.moderation_render import ModAction

WHEN = datetime(2025, 3, 14, 12, tzinfo=UTC)


def action(**overrides: object) -> ModAction:
    values: dict[str, object] = {
        "title": "Daily allowance",
        "actor_id": 7,
        "target": "<@5>",
        "before": "default",
        "after": "1/day",
        "reason": "trial",
        "audit_id": 12,
        "changed": True,
    }
    values.update(overrides)
    return ModAction(**values)  # type: ignore[arg-type]


def report(**overrides: object) -> UsageReport:
    values: dict[str, object] = {
        "guild_id": 1,
        "since": date(2025, 3, 8),
        "days": 7,
        "totals": UsageTotals(5, 3, 1),
        "top_users": ((5, 4), (6, 1)),
        "by_provider": {"poyo": UsageTotals(5, 3, 1)},
    }
    values.update(overrides)
    return UsageReport(**values)  # type: ignore[arg-type]


def test_confirmation_says_before_and_after_or_that_nothing_changed() -> None:
    assert ui.confirmation(action()) == "Daily allowance · <@5>: default → 1/day."
    unchanged = ui.confirmation(action(before="1/day", changed=False))
    assert unchanged == "No change: Daily allowance · <@5> is already 1/day."


def test_modlog_embed_names_who_what_change_and_reason() -> None:
    embed = ui.modlog_embed(action(), WHEN).to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == "Daily allowance"
    assert fields == {
        "Moderator": "<@7>",
        "Target": "<@5>",
        "Change": "default → 1/day",
        "Reason": "trial",
    }
    assert embed["footer"]["text"] == "Audit #12"
    assert embed["timestamp"].startswith("2025-03-14T12:00:00")


def test_modlog_embed_without_reason_and_with_a_long_one() -> None:
    fields = {f.name: f.value for f in ui.modlog_embed(action(reason=None), WHEN).fields}
    assert fields["Reason"] == "—"
    long = ui.modlog_embed(action(reason="x" * 5000), WHEN).fields[-1].value or ""
    assert len(long) == ui.REASON_LIMIT
    assert long.endswith("…")
    same = ui.modlog_embed(action(changed=False), WHEN).fields[2].value
    assert same == "1/day (no change)"


@pytest.mark.parametrize(
    ("value", "unset", "expected"),
    [(None, "default", "default"), (0, "no cap", "0/day"), (25, "none", "25/day")],
)
def test_per_day(value: int | None, unset: str, expected: str) -> None:
    assert ui.per_day(value, unset) == expected


def test_small_wordings() -> None:
    assert (ui.credits(1), ui.credits(0)) == ("1 credit", "0 credits")
    assert (ui.blocked(True), ui.listed(False)) == ("blocked", "not listed")
    assert (ui.channel(None), ui.channel(9)) == ("off", "<#9>")
    assert ui.term("bad_word") == "||bad\\_word||"


def test_usage_csv_has_totals_providers_and_members() -> None:
    rows = list(csv.reader(io.StringIO(usage_render.usage_csv(report()))))
    assert rows == [
        ["section", "key", "images", "jobs", "failed"],
        ["total", "since 2025-03-08", "5", "3", "1"],
        ["provider", "poyo", "5", "3", "1"],
        ["user", "5", "4", "", ""],
        ["user", "6", "1", "", ""],
    ]


def test_usage_csv_cells_never_read_as_formulas() -> None:
    odd = report(by_provider={"=cmd()": UsageTotals(1, 1, 0)})
    rows = list(csv.reader(io.StringIO(usage_render.usage_csv(odd))))
    assert rows[2][1] == "'=cmd()"


def test_usage_embed_of_an_empty_day() -> None:
    empty = report(days=1, totals=UsageTotals(0, 0, 0), top_users=(), by_provider={})
    embed = usage_render.usage_embed(empty).to_dict()
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "today" in embed["description"]
    assert (fields["Images"], fields["Top members"], fields["By provider"]) == (
        "0",
        "Nobody yet.",
        "None yet.",
    )
    assert usage_render.usage_file(empty).filename == "usage-2025-03-08-1d.csv"


def test_blocklist_reply_fits_in_the_embed_or_goes_to_a_file() -> None:
    embed, file = ui.blocklist_reply([])
    assert file is None
    assert "None" in (embed.description or "")

    embed, file = ui.blocklist_reply(["cat", "dog"])
    assert file is None
    assert embed.description == "`cat`, `dog`"

    many = [f"term number {i:04}" for i in range(400)]
    embed, file = ui.blocklist_reply(many)
    assert file is not None
    assert file.filename == "blocklist.txt"
    assert file.fp.read().decode().splitlines() == many
    assert "400 terms" in (embed.description or "")

"""Domain errors worded at the Discord edge: the template in the reader's language, filled
with the error's values; wording the catalog lacks gives way to the error kind's message."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.errors import (
    ProviderUnavailableError,
    QuotaExceededError,
    RequestValidationError,
    SeedreamError,
)
from bot.core.localizable import N_
from bot.discord import render
from bot.discord.replies import PostPermissionsError, error_text, user_message_for
from bot.i18n.catalogs import Catalogs

CATALOGS = Catalogs()
DE, EN, JA = CATALOGS.pick("de"), CATALOGS.pick("en-US"), CATALOGS.pick("ja")


def test_a_validation_error_is_translated_with_its_values() -> None:
    error = RequestValidationError("count", N_("must be between 1 and {most}."), most=1000)
    assert error.user_message == "`count`: must be between 1 and 1,000."  # logs, the ledger
    assert error_text(error, EN) == "`count`: must be between 1 and 1,000."
    assert error_text(error, DE) == "`count`: muss zwischen 1 und 1.000 liegen."


def test_allowed_values_are_listed_in_the_readers_language() -> None:
    error = RequestValidationError(
        "ratio", N_("`{value}` is not offered by {model}."), ("1:1", "16:9"), value="7:3",
        model="Seedream 4.5",
    )  # fmt: skip
    assert error_text(error, DE) == (
        "`ratio`: `7:3` wird von Seedream 4.5 nicht angeboten. Erlaubt: 1:1, 16:9."
    )


def test_a_quota_refusal_shows_the_reset_as_a_discord_timestamp() -> None:
    reset = datetime(2025, 3, 15, tzinfo=UTC)
    error = QuotaExceededError(
        N_("You have used your {allowance} images for today; more at {reset}."),
        reset_at=reset,
        allowance=5,
        reset="00:00 UTC",
    )
    stamp = int(reset.timestamp())
    assert error_text(error, DE) == (
        "Du hast deine 5 Bilder für heute verbraucht; "
        f"neue gibt es ab <t:{stamp}:t> (<t:{stamp}:R>)."
    )


def test_missing_permissions_are_named_in_the_readers_language() -> None:
    error = PostPermissionsError(
        N_("I can't post results in this channel: I need {permissions}. Nothing was charged."),
        ["attach_files", "embed_links"],
    )
    assert "Attach Files, Embed Links" in error.user_message
    assert error_text(error, DE) == (
        "Ich kann in diesem Kanal keine Ergebnisse posten: Mir fehlt Dateien anhängen, "
        "Links einbetten. Es wurde nichts berechnet."
    )


def test_a_providers_own_words_give_way_to_the_translated_summary() -> None:
    error = ProviderUnavailableError("PoYo is unavailable right now (HTTP 503).")
    assert error_text(error, EN) == "PoYo is unavailable right now (HTTP 503)."
    assert error_text(error, JA) == "画像プロバイダーは現在利用できません。"
    unknown = SeedreamError("A sentence nobody translated yet.")
    assert user_message_for(unknown, DE) == "Etwas ist schiefgelaufen."


def test_a_stored_failure_reason_is_translated_or_summarised_by_its_code() -> None:
    assert render.reason_text("The job failed.", DE) == "Der Auftrag ist fehlgeschlagen."
    detail = "PoYo did not finish within 900 s."
    assert render.reason_text(detail, EN, "provider_timeout") == detail
    assert render.reason_text(detail, DE, "provider_timeout") == (
        "Der Bildanbieter hat zu lange für eine Antwort gebraucht."
    )
    assert render.reason_text(detail, DE, "no_such_code") == detail
    assert render.reason_text(None, DE) == "Der Auftrag ist fehlgeschlagen."

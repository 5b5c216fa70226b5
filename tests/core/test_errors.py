"""Error codes are explicit class attributes, equal to the codes already stored in ledgers."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import bot
from bot.core import errors
from bot.core.errors import SeedreamError
from bot.discord.references import ReferencesGoneError
from bot.discord.replies import PostPermissionsError
from bot.discord.source_image import SourceImageGoneError
from bot.jobs.delivery import DeliveryError
from bot.jobs.events import error_code
from bot.quotas.rules import (
    BlockedPromptError,
    BlockedUserError,
    GlobalBudgetExceededError,
    GuildBudgetExceededError,
)

#: every code a ledger may already hold; a published code must never change
STORED_CODES: dict[type[SeedreamError], str] = {
    errors.SeedreamError: "seedream",
    errors.ConfigError: "config",
    errors.ConfigErrors: "config_errors",
    errors.RequestValidationError: "request_validation",
    errors.ProviderError: "provider",
    errors.AuthenticationError: "authentication",
    errors.InsufficientCreditsError: "insufficient_credits",
    errors.RateLimitedError: "rate_limited",
    errors.RejectedRequestError: "rejected_request",
    errors.ContentFilteredError: "content_filtered",
    errors.TaskFailedError: "task_failed",
    errors.ProviderUnavailableError: "provider_unavailable",
    errors.ModelUnavailableError: "model_unavailable",
    errors.ProviderTimeoutError: "provider_timeout",
    errors.ImageError: "image",
    errors.QuotaExceededError: "quota_exceeded",
    errors.JobNotFoundError: "job_not_found",
    errors.PermissionDeniedError: "permission_denied",
    errors.ShuttingDownError: "shutting_down",
    GuildBudgetExceededError: "guild_budget_exceeded",
    GlobalBudgetExceededError: "global_budget_exceeded",
    BlockedPromptError: "blocked_prompt",
    BlockedUserError: "blocked_user",
    DeliveryError: "delivery",
    ReferencesGoneError: "references_gone",
    PostPermissionsError: "post_permissions",
    SourceImageGoneError: "source_image_gone",
}


def derived_code(cls: type) -> str:
    """The code the bot used to derive from the class name (before codes were explicit)."""
    name = cls.__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def all_error_classes() -> set[type[SeedreamError]]:
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if module.name != "bot.__main__":
            importlib.import_module(module.name)
    found: set[type[SeedreamError]] = set()
    todo: list[type[SeedreamError]] = [SeedreamError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("bot."):
            found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", list(STORED_CODES), ids=lambda cls: cls.__name__)
def test_each_class_declares_the_code_its_name_used_to_give(cls: type[SeedreamError]) -> None:
    assert "code" in vars(cls), f"{cls.__name__} inherits its code instead of declaring it"
    assert cls.code == STORED_CODES[cls] == derived_code(cls)


def test_every_error_class_of_the_bot_is_in_the_table() -> None:
    # a new error class must declare its own code (and be added here), not inherit one
    assert all_error_classes() == set(STORED_CODES)


def test_codes_are_unique() -> None:
    assert len(set(STORED_CODES.values())) == len(STORED_CODES)


def test_error_code_reads_the_attribute_not_the_class_name() -> None:
    class RenamedTimeoutError(errors.ProviderTimeoutError):
        """A subclass under another name keeps the code it was given."""

    assert error_code(RenamedTimeoutError()) == "provider_timeout"
    assert error_code(DeliveryError(retryable=False)) == "delivery"

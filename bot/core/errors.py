"""One error hierarchy for the whole bot, keyed on what the caller should do.

Every error carries ``user_message``: a short sentence that is safe to show a Discord
member (no key, token, URL with credentials or stack trace ever goes into it). It is the
English ``template`` (marked with ``N_`` for the catalog) filled with ``params``; the Discord
layer translates the template and fills it again in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar

from bot.core.localizable import N_


def english(params: Mapping[str, object]) -> dict[str, object]:
    """``params`` as the English text shows them (logs, the CLI, the ledger): whole numbers
    grouped by thousands ("16,777,216"), as the Discord layer writes them per locale."""
    return {
        key: f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        for key, value in params.items()
    }


class SeedreamError(Exception):
    """Base of every error the bot raises on purpose."""

    #: the stable code stored in the ledger (``jobs.error_code``) and logged; each
    #: subclass sets its own, and a published one never changes
    code: ClassVar[str] = "seedream"

    user_message: str = N_("Something went wrong.")

    def __init__(self, message: str | None = None, **params: object) -> None:
        #: the English sentence with ``{name}`` placeholders, as the catalog knows it
        self.template = message if message is not None else type(self).user_message
        #: what fills the placeholders (numbers are written per locale at the edge)
        self.params = params
        self.user_message = self.template.format(**english(params)) if params else self.template
        super().__init__(self.user_message)


class ConfigError(SeedreamError):
    """A setting is missing or invalid; the process cannot start."""

    code: ClassVar[str] = "config"

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class ConfigErrors(ConfigError):
    """Several settings are wrong at once: ``problems`` holds one ConfigError each.

    It is a ConfigError (naming the first problem), so a caller that reports one still can;
    the CLI prints every problem on its own line.
    """

    code: ClassVar[str] = "config_errors"

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        if not problems:
            raise ValueError("ConfigErrors needs at least one problem")
        self.problems: list[ConfigError] = [
            single for problem in problems for single in config_problems(problem)
        ]
        first = self.problems[0]
        super().__init__(first.variable, first.problem)
        self.user_message = self.template = "; ".join(str(p) for p in self.problems)
        self.args = (self.user_message,)


def summary_for(code: str | None) -> str | None:
    """The general message of the error class with this stored code (None if unknown).

    A reader whose language lacks an error's detailed wording gets this instead."""
    todo: list[type[SeedreamError]] = [SeedreamError]
    while todo:
        cls = todo.pop()
        if cls.code == code and "code" in vars(cls):
            return cls.user_message
        todo.extend(cls.__subclasses__())
    return None


def config_problems(error: ConfigError) -> list[ConfigError]:
    """The single problems inside ``error`` (itself, unless it is a ConfigErrors)."""
    return list(error.problems) if isinstance(error, ConfigErrors) else [error]


class RequestValidationError(SeedreamError):
    """A generation request the chosen model cannot honour; nothing was sent or charged."""

    code: ClassVar[str] = "request_validation"

    def __init__(
        self,
        field: str,
        message: str,
        allowed: Sequence[str] | str | None = None,
        *,
        note: str | None = None,
        **params: object,
    ) -> None:
        self.field = field
        #: what is wrong with the field (a template filled with ``problem_params``)
        self.problem = message
        self.problem_params = params
        #: a sentence added after the problem (a message id, no placeholders)
        self.note = note
        if isinstance(allowed, str):
            self.allowed: tuple[str, ...] = (allowed,)
        else:
            self.allowed = tuple(allowed or ())
        # a tuple of values is a list for the reader ("JPEG and PNG"; translated: their way)
        shown = {
            k: " and ".join(v) if isinstance(v, tuple) else v for k, v in english(params).items()
        }
        text = f"`{field}`: {message.format(**shown) if params else message}"
        if note:
            text += f" {note}"
        if self.allowed:
            text += f" Allowed: {', '.join(self.allowed)}."
        super().__init__(text)


class ProviderError(SeedreamError):
    """A provider call failed. Subclasses say whether to retry, fail over or give up."""

    code: ClassVar[str] = "provider"

    user_message = N_("The image provider failed.")
    #: try again later with the same provider (transient)
    retryable: bool = False
    #: another provider may well succeed where this one failed
    failover: bool = False
    #: the provider's id for the failed request, for the operator to quote to its support
    request_id: str | None = None

    def __init__(
        self, message: str | None = None, *, provider: str | None = None, **params: object
    ) -> None:
        self.provider = provider
        super().__init__(message, **params)


class AuthenticationError(ProviderError):
    """The provider refused our key."""

    code: ClassVar[str] = "authentication"

    user_message = N_(
        "The image provider refused the bot's credentials. An operator must fix the key."
    )
    failover = True


class InsufficientCreditsError(ProviderError):
    """The operator's account at the provider is out of credits."""

    code: ClassVar[str] = "insufficient_credits"

    user_message = N_("The image provider account is out of credits.")
    failover = True


class RateLimitedError(ProviderError):
    """Too many requests; ``retry_after`` seconds is the provider's hint when given."""

    code: ClassVar[str] = "rate_limited"

    user_message = N_("The image provider is busy (rate limited). Try again shortly.")
    retryable = True
    failover = True

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider)


class RejectedRequestError(ProviderError):
    """The provider says the request itself is invalid (HTTP 400/422)."""

    code: ClassVar[str] = "rejected_request"

    user_message = N_("The image provider rejected the request.")


class ContentFilteredError(ProviderError):
    """The prompt, a reference image or the output tripped the provider's content filter."""

    code: ClassVar[str] = "content_filtered"

    user_message = N_("The image provider's content filter blocked this request.")


class TaskFailedError(ProviderError):
    """The task ran and failed on the provider's side."""

    code: ClassVar[str] = "task_failed"

    user_message = N_("The image provider could not generate the image.")


class ProviderUnavailableError(ProviderError):
    """Network error, 5xx, maintenance or a malformed answer."""

    code: ClassVar[str] = "provider_unavailable"

    user_message = N_("The image provider is unavailable right now.")
    retryable = True
    failover = True


class ModelUnavailableError(ProviderError):
    """This provider does not serve the model (not found, not opened for the account,
    endpoint closed); another provider that offers it may."""

    code: ClassVar[str] = "model_unavailable"
    user_message = N_("The image provider does not offer this model right now.")
    failover = True


class ProviderTimeoutError(ProviderError):
    """The task did not finish before its deadline."""

    code: ClassVar[str] = "provider_timeout"

    user_message = N_("The image provider took too long to answer.")
    failover = True


class ImageError(SeedreamError):
    """A body that should be an image is not a usable PNG, JPEG or WebP."""

    code: ClassVar[str] = "image"

    user_message = N_("That file is not a usable PNG, JPEG or WebP image.")


class QuotaExceededError(SeedreamError):
    """The member (or the guild's budget) has no images left today."""

    code: ClassVar[str] = "quota_exceeded"

    def __init__(self, message: str, *, reset_at: datetime | None = None, **params: object) -> None:
        #: shown as ``{reset}`` (``00:00 UTC``; a Discord timestamp in Discord)
        self.reset_at = reset_at
        super().__init__(message, **params)


class JobNotFoundError(SeedreamError):
    """No job with that id belongs to the caller."""

    code: ClassVar[str] = "job_not_found"

    user_message = N_("No such job (or it isn't yours).")


class PermissionDeniedError(SeedreamError):
    """The caller may not do this (not the requester, not a moderator, blocked)."""

    code: ClassVar[str] = "permission_denied"

    user_message = N_("You are not allowed to do that.")


class ShuttingDownError(SeedreamError):
    """The bot is stopping and takes no new jobs."""

    code: ClassVar[str] = "shutting_down"

    user_message = N_("The bot is restarting; try again in a minute.")


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer version of the bot; refusing to touch it (any
    store backend)."""

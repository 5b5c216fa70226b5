"""The clock type and the UTC-day helpers quotas, moderation and jobs agree on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def utc_day(now: datetime) -> date:
    """The UTC day ``now`` falls on."""
    return now.astimezone(UTC).date()


def next_reset(now: datetime) -> datetime:
    """The next UTC midnight, when daily allowances and budgets start over."""
    return datetime.combine(utc_day(now) + timedelta(days=1), time(0), tzinfo=UTC)


def format_reset(reset_at: datetime) -> str:
    """``00:00 UTC`` (the Discord layer may render ``reset_at`` as a timestamp instead)."""
    return f"{reset_at:%H:%M} UTC"

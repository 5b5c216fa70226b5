"""How times and days are written to SQLite: one convention, in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime


def to_db_time(value: datetime) -> str:
    """An aware datetime as fixed-width UTC ISO-8601 text (sorts as text)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime; the clock must return aware UTC times")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str) -> datetime:
    """Text written by ``to_db_time`` back to an aware UTC datetime."""
    return datetime.fromisoformat(value).astimezone(UTC)


def opt_time(value: str | None) -> datetime | None:
    """``from_db_time`` for a nullable column."""
    return None if value is None else from_db_time(value)


def to_db_day(value: date) -> str:
    """A UTC day as ``YYYY-MM-DD``."""
    return value.isoformat()


def from_db_day(value: str) -> date:
    """``YYYY-MM-DD`` back to a date."""
    return date.fromisoformat(value)

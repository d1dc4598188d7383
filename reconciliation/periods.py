"""Periods of reconciliation: whole UTC days, start inclusive, end exclusive."""

from datetime import UTC, date, datetime, time, timedelta


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def days_period(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    return day_start(first), day_start(last + timedelta(days=1))


def yesterday(now: datetime) -> date:
    return now.astimezone(UTC).date() - timedelta(days=1)

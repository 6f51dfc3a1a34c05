"""Calendar periods in UTC: the key a charge is totalled under, and when a period resets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

Period = Literal["daily", "weekly", "monthly", "total"]
PERIODS: tuple[Period, ...] = get_args(Period)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC)


def period_start(period: Period, moment: datetime) -> datetime | None:
    """Midnight UTC of the day, the Monday, or the 1st; None for the all-time period."""
    day = _utc(moment).date()
    if period == "daily":
        start = day
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
    elif period == "monthly":
        start = day.replace(day=1)
    else:
        return None
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def reset_time(period: Period, moment: datetime) -> datetime | None:
    """When the period containing `moment` ends and a fresh allowance starts."""
    start = period_start(period, moment)
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


def period_key(period: Period, moment: datetime) -> str:
    """`daily:2026-11-22`, `weekly:2026-11-16` (its Monday), `monthly:2026-11`, `total`."""
    start = period_start(period, moment)
    if start is None:
        return "total"
    if period == "monthly":
        return f"monthly:{start:%Y-%m}"
    return f"{period}:{start:%Y-%m-%d}"


def day_key(day: date) -> str:
    """The daily key of a calendar day, for reading past days' totals (the `/spend` week chart)."""
    return f"daily:{day:%Y-%m-%d}"


def all_keys(moment: datetime) -> list[str]:
    """Every period key a charge at `moment` is added to, so any period can be read without a scan."""
    return [period_key(p, moment) for p in PERIODS]

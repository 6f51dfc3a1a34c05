"""Calendar periods in UTC: the key a charge is totalled under, and when a period resets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal, get_args

Period = Literal["daily", "weekly", "monthly", "total"]
PERIODS: tuple[Period, ...] = get_args(Period)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC)


def period_start(period: Period, moment: datetime) -> datetime | None:
    """Midnight UTC of the day, the Monday, or the 1st; None for the all-time period."""
    return _start(period, _utc(moment).date())


def reset_time(period: Period, moment: datetime) -> datetime | None:
    """When the period containing `moment` ends and a fresh allowance starts."""
    return _reset(period, _utc(moment).date())


def period_key(period: Period, moment: datetime) -> str:
    """`daily:2026-11-22`, `weekly:2026-11-16` (its Monday), `monthly:2026-11`, `total`."""
    return _key(period, _utc(moment).date())


# Every reserve and settle asks these for the same few days over and over, and formatting a date is a
# good part of a reserve's own work: they are worked out once per period and day.
@lru_cache(maxsize=64)
def _start(period: Period, day: date) -> datetime | None:
    if period == "daily":
        start = day
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
    elif period == "monthly":
        start = day.replace(day=1)
    else:
        return None
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


@lru_cache(maxsize=64)
def _reset(period: Period, day: date) -> datetime | None:
    start = _start(period, day)
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


@lru_cache(maxsize=64)
def _key(period: Period, day: date) -> str:
    start = _start(period, day)
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

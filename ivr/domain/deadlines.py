"""Callback deadlines: when a citizen must be called back, and when a reservation lapses."""

from __future__ import annotations

from datetime import datetime, timedelta


def seconds_left(due: datetime | None, now: datetime) -> float | None:
    """Time left to call back; negative when overdue; None when no callback is owed."""
    if due is None:
        return None
    return (due - now).total_seconds()


def reservation_lapsed(
    due: datetime | None, reserved_at: datetime | None, now: datetime, release_minutes: int
) -> bool:
    """An overdue reserved callback becomes anyone's ``release_minutes`` after the later
    of its deadline and the moment it was taken."""
    if due is None or reserved_at is None:
        return False
    start = max(due, reserved_at)
    return now >= start + timedelta(minutes=release_minutes) and now > due

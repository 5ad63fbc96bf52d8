"""Report rows as the console shows them: ages, deadlines, lapsed reservations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ivr.domain.deadlines import reservation_lapsed, seconds_left
from ivr.domain.reports import OPEN_STATES, ReportState


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def decorate(row: dict[str, Any], now: datetime, release_minutes: int) -> dict[str, Any]:
    due = _when(row.get("callback_due_at"))
    owed = due is not None and not row.get("callback_done_at") and bool(row.get("caller")) \
        and ReportState(row["state"]) in OPEN_STATES
    left = seconds_left(due, now) if owed else None
    lapsed = owed and reservation_lapsed(due, _when(row.get("reserved_at")), now,
                                         release_minutes)
    created = _when(row["created_at"])
    assert created is not None
    return {
        **row,
        "age_s": (now - created).total_seconds(),
        "due_left_s": left,
        "overdue": left is not None and left < 0,
        "reservation_lapsed": bool(lapsed),
        "in_call": row.get("channel") == "ivr" and not row.get("call_ended_at"),
    }

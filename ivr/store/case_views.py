"""What the officers' and supervisors' pages read of citizens' cases: the queue, one case
with its report, and the supervision figures.

A case is a report of a participation line (``reports.service = 'participation'``) with
its ``cases`` row. Every read is of one municipality, and of the areas given: an officer's
pages pass the areas granted to them, a supervisor's pass ``None`` (every area). Dates
are the municipality's local dates as ISO text (``YYYY-MM-DD``), compared as text on both
engines; what is "near" the deadline is a date the caller works out on the business-day
calendar (``ivr.domain.business_days``), not something SQL could count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ivr.store.db import Database
from ivr.store.queries import ConsoleQueries

QUEUE_PAGE = 100
OVERDUE_LIMIT = 500
STATES = ("open", "answered", "closed")
DUE = ("near", "overdue")

_CLIP = ("(SELECT k.seconds FROM clips k WHERE k.report_id = r.id ORDER BY k.take DESC"
         " LIMIT 1) AS clip_seconds")
_COLUMNS = (
    "r.id, r.caller, r.created_at, r.complete, r.language, c.kind, c.area, c.intake,"
    " c.subject, c.contact_name, c.contact_email, c.received_on, c.business_days,"
    " c.due_on, c.state, c.answered_on, c.answered_by, c.closed_at, c.warned_at,"
    " c.overdue_at, " + _CLIP
)


@dataclass(frozen=True)
class CaseFilters:
    """What the queue shows. ``today`` and ``near_until`` (the last date that counts as
    near the deadline) are the municipality's local dates."""

    today: date
    near_until: date
    area: str = ""
    state: str = "open"  # "" for every state
    kind: str = ""
    due: str = ""  # "", "near" or "overdue" (open cases only)
    page: int = 0


def _scope(municipality: int, areas: Sequence[str] | None) -> tuple[list[str], list[Any]]:
    where = ["c.municipality_id = ?"]
    params: list[Any] = [municipality]
    if areas is not None:
        # no area granted is no case at all (an empty IN () is not SQL)
        where.append(f"c.area IN ({','.join('?' * len(areas))})" if areas else "1 = 0")
        params += list(areas)
    return where, params


class CaseViews:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.reports = ConsoleQueries(db)

    async def queue(self, municipality: int, areas: Sequence[str] | None,
                    f: CaseFilters, per_page: int = QUEUE_PAGE) -> list[dict[str, Any]]:
        """The cases, overdue first, then by due date (the oldest case first on a tie).
        One more row than ``per_page`` says that there is a next page."""
        where, params = _scope(municipality, areas)
        if f.area:
            where.append("c.area = ?")
            params.append(f.area)
        if f.state:
            where.append("c.state = ?")
            params.append(f.state)
        if f.kind:
            where.append("c.kind = ?")
            params.append(f.kind)
        today = f.today.isoformat()
        if f.due == "overdue":
            where.append("c.state = 'open' AND c.due_on < ?")
            params.append(today)
        elif f.due == "near":
            where.append("c.state = 'open' AND c.due_on >= ? AND c.due_on <= ?")
            params += [today, f.near_until.isoformat()]
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM cases c JOIN reports r ON r.id = c.report_id"
            " WHERE " + " AND ".join(where) +
            " ORDER BY CASE WHEN c.state = 'open' AND c.due_on < ? THEN 0 ELSE 1 END,"
            " c.due_on, c.report_id LIMIT ? OFFSET ?",
            (*params, today, per_page + 1, max(f.page, 0) * per_page))
        return [dict(r) for r in rows]

    async def case(self, report: int, municipality: int,
                   areas: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The case ``report`` of ``municipality`` in one of ``areas``, with its report's
        columns and the case's answer; None when it is no case, not here, or not in them."""
        where, params = _scope(municipality, areas)
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS}, c.answer, c.answer_audio, c.answered_at, c.closed_by,"
            " c.api_key_id, r.call_outcome, r.call_ended_at"
            " FROM cases c JOIN reports r ON r.id = c.report_id"
            " WHERE c.report_id = ? AND " + " AND ".join(where), (report, *params))
        return dict(row) if row is not None else None

    async def case_page(self, report: int, municipality: int,
                        areas: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The case with what its page shows of the report: clips, callbacks, history."""
        found = await self.case(report, municipality, areas)
        if found is None:
            return None
        return {"case": found, "clips": await self.reports.clips(report),
                "callbacks": await self.reports.callbacks(report),
                "history": await self.reports.history(report)}

    async def clip(self, report: int, clip_id: int) -> dict[str, Any] | None:
        """One of the case's clips (found only once the case itself was: see ``case``)."""
        row = await self.reports.clip(report, clip_id)
        return dict(row) if row is not None else None

    async def by_area(self, municipality: int, today: date, near_until: date,
                      month: tuple[date, date]) -> list[dict[str, Any]]:
        """Per area: open, near the deadline, overdue, and answered in ``month`` (first
        day, first day of the next) on time or late."""
        start, end = month[0].isoformat(), month[1].isoformat()
        rows = await self.db.fetchall(
            "SELECT area,"
            " sum(CASE WHEN state = 'open' THEN 1 ELSE 0 END) AS open,"
            " sum(CASE WHEN state = 'open' AND due_on >= ? AND due_on <= ? THEN 1 ELSE 0 END)"
            " AS near,"
            " sum(CASE WHEN state = 'open' AND due_on < ? THEN 1 ELSE 0 END) AS overdue,"
            " sum(CASE WHEN answered_on >= ? AND answered_on < ? AND answered_on <= due_on"
            " THEN 1 ELSE 0 END) AS on_time,"
            " sum(CASE WHEN answered_on >= ? AND answered_on < ? AND answered_on > due_on"
            " THEN 1 ELSE 0 END) AS late"
            " FROM cases WHERE municipality_id = ?"
            " AND (state = 'open' OR (answered_on >= ? AND answered_on < ?))"
            " GROUP BY area ORDER BY area",
            (today.isoformat(), near_until.isoformat(), today.isoformat(), start, end, start,
             end, municipality, start, end))
        return [{k: (int(v or 0) if k != "area" else v) for k, v in dict(r).items()}
                for r in rows]

    async def overdue(self, municipality: int, today: date,
                      limit: int = OVERDUE_LIMIT) -> list[dict[str, Any]]:
        """Open cases past their due date, the longest overdue first."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM cases c JOIN reports r ON r.id = c.report_id"
            " WHERE c.municipality_id = ? AND c.state = 'open' AND c.due_on < ?"
            " ORDER BY c.due_on, c.report_id LIMIT ?",
            (municipality, today.isoformat(), limit))
        return [dict(r) for r in rows]

"""Citizens' cases in the store: a case is a report of a participation line
(``reports.service = 'participation'``) with its ``cases`` row, opened with it in one
transaction; then answered, closed, reopened, warned near its deadline and marked overdue,
each change an event on the report. The calendar's own days and officers' areas are in
``ivr.store.case_admin``; the console's pages read with ``ivr.store.case_views``.

Dates (received, due, answered) are the municipality's local dates as ISO text; moments
are UTC as everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import aiosqlite

from ivr.core.ports import NewCase, NewReport
from ivr.store import events
from ivr.store.db import Database, Op
from ivr.store.reports import Reports, Service, iso
from ivr.store.resilient import ResilientBook

SERVICE = "participation"
JOURNAL_OP = "case"  # the journal record that opens a case (``ResilientBook.opener``)


def _case_data(case: NewCase) -> dict[str, Any]:
    """What the ``report.opened`` event of a case says (never its text nor contact)."""
    return {"service": SERVICE, "kind": case.kind, "area": case.area,
            "intake": case.intake, "due_on": case.due_on.isoformat(),
            "business_days": case.business_days,
            **({"area_name": case.area_name} if case.area_name else {})}


class CaseStore:
    """Cases' rows and events. ``book``: the journal calls go through when the database
    is away (None: straight to the database, as the console does)."""

    def __init__(self, db: Database, reports: Reports, book: ResilientBook | None = None
                 ) -> None:
        self.db = db
        self.reports = reports
        self.book = book
        if book is not None:
            book.opener(JOURNAL_OP, self._replayed)

    # --- opening -------------------------------------------------------------------

    def op_open(self, new: NewReport, case: NewCase, moment: datetime,
                number: int | None = None, *, actor: str = "ivr") -> Op:
        async def write(conn: aiosqlite.Connection, report: int, now: str) -> None:
            await conn.execute(
                "INSERT INTO cases (report_id, municipality_id, kind, area, intake, subject,"
                " contact_name, contact_email, received_on, business_days, due_on,"
                " api_key_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report, new.municipality, case.kind, case.area, case.intake, case.subject,
                 case.contact_name, case.contact_email, case.received_on.isoformat(),
                 case.business_days, case.due_on.isoformat(), case.api_key_id, now))
            if case.intake != "ivr":  # written: nothing more will come; typed by whom
                await conn.execute(
                    "UPDATE reports SET complete = 1, caller_source = ?, entered_by = ?,"
                    " summary = ? WHERE id = ?",
                    ("typed" if new.caller else None,
                     actor.removeprefix("user:") if actor.startswith("user:") else None,
                     case.subject or None, report))

        return self.reports.op_open(new, moment, number, service=Service(
            SERVICE, case.intake, write, actor, _case_data(case)))

    async def open(self, new: NewReport, case: NewCase, *, actor: str = "ivr") -> int:
        """The case's report number. A call's case goes through the journal when the
        database cannot take it in time; a written one is refused (StoreError) then."""
        if self.book is not None and case.intake == "ivr":
            return await self.book.open_other(JOURNAL_OP, new.municipality, {
                "new": asdict(new), "case": _case_record(case), "actor": actor})
        result: int = await self.db.write(
            self.op_open(new, case, self.reports.clock(), actor=actor))
        return result

    def _replayed(self, record: dict[str, Any], report: int, moment: datetime) -> Op:
        raw = dict(record["case"])
        case = NewCase(**{**raw, "received_on": date.fromisoformat(raw["received_on"]),
                          "due_on": date.fromisoformat(raw["due_on"])})
        return self.op_open(NewReport(**record["new"]), case, moment, report,
                            actor=str(record.get("actor", "ivr")))

    # --- reading -------------------------------------------------------------------

    async def case(self, report: int) -> dict[str, Any] | None:
        """The case with its report's municipality, caller and language; None when
        ``report`` is not a case."""
        row = await self.db.fetchone(
            "SELECT c.*, r.caller, r.language, r.created_at FROM cases c"
            " JOIN reports r ON r.id = c.report_id WHERE c.report_id = ?", (report,))
        return dict(row) if row is not None else None

    async def municipalities_open(self) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT DISTINCT municipality_id FROM cases WHERE state = 'open'"
            " ORDER BY municipality_id")
        return [int(r[0]) for r in rows]

    # --- changes -------------------------------------------------------------------

    def _change(self, report: int, states: Sequence[str], sql: str, params: tuple[Any, ...],
                kind: str, actor: str, data: dict[str, Any], moment: datetime) -> Op:
        """``sql`` on the case when its state is one of ``states``, and its event; False
        when it was not (someone else changed it first)."""
        now = iso(moment)
        marks = ",".join("?" * len(states))

        async def op(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                f"UPDATE cases SET {sql}, updated_at = ? WHERE report_id = ?"
                f" AND state IN ({marks})", (*params, now, report, *states))
            if cur.rowcount != 1:
                return False
            await conn.execute("UPDATE reports SET updated_at = ? WHERE id = ?", (now, report))
            await events.append(conn, report, kind, now, actor=actor, data=data)
            return True

        return op

    async def answer(self, report: int, *, text: str, audio: str | None, answered_on: date,
                     actor: str, moment: datetime, data: dict[str, Any]) -> bool:
        return await self.db.write(self._change(
            report, ("open",),
            "state = 'answered', answer = ?, answer_audio = ?, answered_at = ?,"
            " answered_on = ?, answered_by = ?",
            (text, audio, iso(moment), answered_on.isoformat(), actor),
            "case.answered", actor, data, moment))

    async def close(self, report: int, *, actor: str, moment: datetime) -> bool:
        return await self.db.write(self._change(
            report, ("answered",), "state = 'closed', closed_at = ?, closed_by = ?",
            (iso(moment), actor), "case.closed", actor, {}, moment))

    async def reopen(self, report: int, *, actor: str, reason: str, moment: datetime) -> bool:
        """Open again, the answer cleared (it stays in the history's ``case.answered``)."""
        return await self.db.write(self._change(
            report, ("answered", "closed"),
            "state = 'open', answer = NULL, answer_audio = NULL, answered_at = NULL,"
            " answered_on = NULL, answered_by = NULL, closed_at = NULL, closed_by = NULL",
            (), "case.reopened", actor, {"reason": reason}, moment))

    # --- the sweep -------------------------------------------------------------------

    async def warn_near(self, municipality: int, today: date, near_until: date,
                        moment: datetime) -> list[int]:
        """``case.near_deadline`` once for each open case due from ``today`` up to
        ``near_until``; the cases warned."""
        return await self._mark(municipality, "warned_at", "due_on >= ? AND due_on <= ?",
                                (today.isoformat(), near_until.isoformat()),
                                "case.near_deadline", moment)

    async def mark_overdue(self, municipality: int, today: date, moment: datetime
                           ) -> list[int]:
        """``alert.case_overdue`` once for each open case due before ``today``."""
        return await self._mark(municipality, "overdue_at", "due_on < ?",
                                (today.isoformat(),), "alert.case_overdue", moment)

    async def _mark(self, municipality: int, column: str, due: str, params: tuple[Any, ...],
                    kind: str, moment: datetime) -> list[int]:
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> list[int]:
            rows = await conn.execute_fetchall(
                f"SELECT report_id, kind, area, due_on FROM cases WHERE municipality_id = ?"
                f" AND state = 'open' AND {column} IS NULL AND {due} ORDER BY due_on,"
                " report_id LIMIT 500", (municipality, *params))
            marked = []
            for row in rows:
                cur = await conn.execute(
                    f"UPDATE cases SET {column} = ? WHERE report_id = ? AND {column} IS NULL",
                    (now, row[0]))
                if cur.rowcount == 1:
                    await events.append(conn, row[0], kind, now, actor="system",
                                        data={"kind": row[1], "area": row[2],
                                              "due_on": row[3]})
                    marked.append(int(row[0]))
            return marked

        return await self.db.write(op)


def _case_record(case: NewCase) -> dict[str, Any]:
    record = asdict(case)
    record["received_on"] = case.received_on.isoformat()
    record["due_on"] = case.due_on.isoformat()
    return record

"""What operators do to a report: state changes, notes, dispatch, listens, callbacks.

Every change writes its ``events`` row in the same transaction: the history a
report page shows and the audit trail are the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.core.records import CaseError as CaseError  # refused changes, shown to operators
from ivr.core.records import ManualReport as ManualReport
from ivr.domain.reports import ReportState, TransitionError, check_transition
from ivr.store import events
from ivr.store.db import Database
from ivr.store.numbers import next_free_number
from ivr.store.reports import callback_due, iso, utc_now

MAX_NOTE = 4000
UNIT = 40





class NotFound(LookupError):
    pass


FINAL_CALLBACK_STATES = frozenset({"answered", "busy", "no_answer", "failed", "unknown"})


class Casework:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        deadlines: Mapping[str, int] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.deadlines: Mapping[str, int] = deadlines or {}

    async def _state(self, conn: aiosqlite.Connection, report: int) -> sqlite3.Row:
        async with conn.execute(
            "SELECT id, state, first_action_at FROM reports WHERE id = ?", (report,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no report {report}")
        return row

    async def change_state(
        self,
        report: int,
        target: ReportState,
        actor: str,
        *,
        note: str = "",
        unit: str = "",
        duplicate_of: int | None = None,
    ) -> None:
        note, unit = _clean(note, MAX_NOTE), _clean(unit, UNIT)
        if target is ReportState.DISPATCHED and not unit:
            raise CaseError("name the unit that was dispatched")
        if target is ReportState.DUPLICATE and duplicate_of is None:
            raise CaseError("give the number of the original report")
        if duplicate_of == report:
            raise CaseError("a report cannot duplicate itself")
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            row = await self._state(conn, report)
            current = ReportState(row["state"])
            try:
                check_transition(current, target)
            except TransitionError as exc:
                raise CaseError(str(exc)) from exc
            if duplicate_of is not None:
                original = await self._state(conn, duplicate_of)
                if original["state"] == ReportState.DUPLICATE.value:
                    raise CaseError(f"report {duplicate_of} is itself a duplicate")
            await conn.execute(
                "UPDATE reports SET state = ?, updated_at = ?,"
                " unit = CASE WHEN ? != '' THEN ? ELSE unit END,"
                " duplicate_of = coalesce(?, duplicate_of),"
                " first_action_at = coalesce(first_action_at, ?) WHERE id = ?",
                (target.value, now, unit, unit, duplicate_of, now, report),
            )
            data: dict[str, Any] = {"from": current.value, "to": target.value}
            if unit:
                data["unit"] = unit
            if duplicate_of is not None:
                data["duplicate_of"] = duplicate_of
            if note:
                data["note"] = note
                await _index_note(conn, report, note)
            await events.append(conn, report, "report.state_changed", now, actor=actor, data=data)

        await self.db.write(op)

    async def add_note(self, report: int, actor: str, text: str) -> None:
        text = _clean(text, MAX_NOTE)
        if not text:
            raise CaseError("a note cannot be empty")
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await self._state(conn, report)
            await conn.execute(
                "UPDATE reports SET updated_at = ?, first_action_at = coalesce(first_action_at, ?)"
                " WHERE id = ?",
                (now, now, report),
            )
            await _index_note(conn, report, text)
            await events.append(conn, report, "report.note", now, actor=actor, data={"text": text})

        await self.db.write(op)

    async def record_listen(self, report: int, clip_id: int, actor: str) -> None:
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await events.append(conn, report, "clip.listened", now, actor=actor,
                                data={"clip": clip_id})

        await self.db.write(op)

    async def reserve(self, report: int, actor: str, *, release: bool = False) -> None:
        """Take (or give back) the callback of a report, so two operators don't both call."""
        name = actor.removeprefix("user:")
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await self._state(conn, report)
            if release:
                await conn.execute(
                    "UPDATE reports SET reserved_by = NULL, reserved_at = NULL WHERE id = ?",
                    (report,),
                )
            else:
                await conn.execute(
                    "UPDATE reports SET reserved_by = ?, reserved_at = ?,"
                    " first_action_at = coalesce(first_action_at, ?) WHERE id = ?",
                    (name, now, now, report),
                )
            kind = "callback.released" if release else "callback.reserved"
            await events.append(conn, report, kind, now, actor=actor)

        await self.db.write(op)

    async def file_manual(self, entry: ManualReport, actor: str) -> int:
        """A report received by radio, in the field, at the counter or by e-mail."""
        moment = self.clock()
        deadlines = ({entry.type_id: entry.callback_minutes} if entry.callback_minutes
                     else self.deadlines)

        async def op(conn: aiosqlite.Connection) -> int:
            return await insert_report(conn, entry, actor, moment, deadlines)

        return await self.db.write(op)

    # --- callbacks --------------------------------------------------------------

    async def start_callback(
        self, report: int, *, request_key: str, action_id: str, actor: str,
        endpoint: str, number: str,
    ) -> tuple[sqlite3.Row, bool]:
        """Record a callback attempt; (row, True) when new, (existing row, False) on a repeat."""
        now = iso(self.clock())
        name = actor.removeprefix("user:")

        async def op(conn: aiosqlite.Connection) -> tuple[sqlite3.Row, bool]:
            async with conn.execute(
                "SELECT * FROM callbacks WHERE request_key = ?", (request_key,)
            ) as cur:
                existing = await cur.fetchone()
            if existing is not None:
                return existing, False
            await self._state(conn, report)
            await conn.execute(
                "INSERT INTO callbacks (report_id, request_key, action_id, user_name, endpoint,"
                " number, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (report, request_key, action_id, name, endpoint, number, now),
            )
            await conn.execute(
                "UPDATE reports SET first_action_at = coalesce(first_action_at, ?) WHERE id = ?",
                (now, report),
            )
            await events.append(conn, report, "callback.requested", now, actor=actor,
                                data={"action_id": action_id, "number": number,
                                      "endpoint": endpoint})
            async with conn.execute(
                "SELECT * FROM callbacks WHERE action_id = ?", (action_id,)
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            return row, True

        return await self.db.write(op)

    async def update_callback(self, action_id: str, state: str, reason: str) -> bool:
        """Record an outcome; False when the attempt had already ended (a late event)."""
        now = iso(self.clock())
        final = state in FINAL_CALLBACK_STATES

        async def op(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT id, report_id, state, finished_at FROM callbacks WHERE action_id = ?",
                (action_id,),
            ) as cur:
                row = await cur.fetchone()
            if row is None or row["finished_at"] is not None or row["state"] == state:
                return False
            await conn.execute(
                "UPDATE callbacks SET state = ?, reason = ?, finished_at = ? WHERE id = ?",
                (state, reason, now if final else None, row["id"]),
            )
            if state == "answered":
                await conn.execute(
                    "UPDATE reports SET callback_done_at = coalesce(callback_done_at, ?),"
                    " reserved_by = NULL, reserved_at = NULL WHERE id = ?",
                    (now, row["report_id"]),
                )
            await events.append(conn, row["report_id"], "callback.updated", now,
                                actor="ami", data={"action_id": action_id, "state": state,
                                                   "reason": reason, "final": final})
            return True

        return await self.db.write(op)


async def insert_report(conn: aiosqlite.Connection, entry: ManualReport, actor: str,
                        moment: datetime, deadlines: Mapping[str, int], *,
                        by_hand: bool = True, language: str | None = None) -> int:
    """Open a report not taken by the IVR, inside the caller's transaction. ``by_hand``:
    an operator typed it (and so has acted on it); else it came by itself (a citizen's
    text, an alarm) and waits in the queue like a call."""
    summary = _clean(entry.summary, MAX_NOTE)
    if not summary:
        raise CaseError("say what was reported")
    now = iso(moment)
    due = callback_due(deadlines, entry.type_id, moment) if entry.caller else None
    report = await next_free_number(conn, entry.municipality)  # above controllers' blocks
    await conn.execute(
        "INSERT INTO reports (id, municipality_id, type, priority, emergency, complete,"
        " channel, caller, caller_source, zone, address, location_source, summary,"
        " entered_by, created_at, updated_at, callback_due_at, first_action_at, language)"
        " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (report, entry.municipality, entry.type_id, entry.priority, int(entry.emergency),
         entry.channel.value, entry.caller,
         ("typed" if by_hand else "callerid") if entry.caller else None, entry.zone,
         entry.address, "manual" if (entry.zone or entry.address) else None, summary,
         actor.removeprefix("user:") if by_hand else None, now, now, due,
         now if by_hand else None, language),
    )
    await _index_note(conn, report, summary)
    await events.append(
        conn, report, "report.opened", now, actor=actor,
        data={"type": entry.type_id, "priority": entry.priority,
              "channel": entry.channel.value, "summary": summary},
    )
    return report


async def _index_note(conn: aiosqlite.Connection, report: int, text: str) -> None:
    await conn.execute(
        "INSERT INTO report_text (body, report_id, source) VALUES (?, ?, 'note')", (text, report)
    )


def _clean(text: str, limit: int) -> str:
    """Trim and refuse control characters other than newlines and tabs."""
    text = (text or "").strip()
    if len(text) > limit:
        raise CaseError(f"text is longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t\r" for ch in text):
        raise CaseError("text holds control characters")
    return text

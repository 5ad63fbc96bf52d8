"""A report handed over to a neighbouring municipality, with its history, in one write.

The report stays where it was made, closed as ``handed_over`` and pointing at its
copy; the neighbour gets a new report (its own number, its own queue) that names
where it came from, carries the whole history as it was, and plays the original's
voice clips (they stay in the clip store once, under the original report).
"""

from __future__ import annotations

import json
from datetime import datetime

import aiosqlite

from ivr.core.records import CaseError
from ivr.domain.municipalities import municipality_of, number_of
from ivr.domain.reports import OPEN_STATES_SQL
from ivr.store import events
from ivr.store.db import Database
from ivr.store.numbers import next_free_number
from ivr.store.reports import iso

_COPIED = ("type, priority, emergency, complete, channel, language, caller, caller_source,"
           " caller_id_raw, address, lat, lon, location_source, summary, call_id, call_outcome,"
           " call_last_step, call_ended_at, callback_due_at, flagged")


async def _one(conn: aiosqlite.Connection, sql: str,
               params: tuple[object, ...]) -> tuple[object, ...] | None:
    async with conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return tuple(row) if row is not None else None


async def hand_over(db: Database, report: int, neighbour: int, *, actor: str, note: str,
                    moment: datetime) -> int:
    """Hand ``report`` over to municipality ``neighbour``; returns the neighbour's report id."""
    home = municipality_of(report)
    now = iso(moment)

    async def op(conn: aiosqlite.Connection) -> int:
        found = await _one(conn, f"SELECT state IN {OPEN_STATES_SQL}, state FROM reports"
                                 " WHERE id = ?", (report,))
        if found is None:
            raise LookupError("no such report")
        if not found[0]:
            raise CaseError(f"a report that is {found[1]} cannot be handed over")
        names = await _one(
            conn, "SELECT h.name, n.name FROM municipality_neighbours x"
            " JOIN municipalities h ON h.id = x.municipality_id"
            " JOIN municipalities n ON n.id = x.neighbour_id"
            " WHERE x.municipality_id = ? AND x.neighbour_id = ?", (home, neighbour))
        if names is None:
            raise CaseError("reports go only to a neighbouring municipality")
        copy = await next_free_number(conn, neighbour)
        await conn.execute(
            f"INSERT INTO reports (id, municipality_id, handed_over_from, created_at, updated_at,"
            f" {_COPIED}) SELECT ?, ?, id, ?, ?, {_COPIED} FROM reports WHERE id = ?",
            (copy, neighbour, now, now, report))
        async with conn.execute("SELECT at, actor, kind, data FROM events WHERE report_id = ?"
                                " ORDER BY id", (report,)) as cur:
            history = [{"at": r[0], "actor": r[1], "kind": r[2], "data": json.loads(r[3])}
                       for r in await cur.fetchall()]
        # the words people wrote, searchable in the neighbour's console too (from the
        # history: the text index is not read by report)
        for item in history:
            text = item["data"].get("text") or item["data"].get("note") \
                or item["data"].get("summary")
            if item["actor"].startswith("user:") and isinstance(text, str) and text:
                await conn.execute("INSERT INTO report_text (body, report_id, source)"
                                   " VALUES (?, ?, 'note')", (text, copy))
        await events.append(conn, copy, "report.received_from", now, actor=actor, data={
            "from": names[0], "number": number_of(report), "note": note, "history": history})
        await conn.execute(
            "UPDATE reports SET state = 'handed_over', handed_over_to = ?, updated_at = ?,"
            " reserved_by = NULL, reserved_at = NULL,"
            " first_action_at = coalesce(first_action_at, ?) WHERE id = ?",
            (copy, now, now, report))
        await events.append(conn, report, "report.handed_over", now, actor=actor, data={
            "to": names[1], "number": number_of(copy), "note": note})
        return copy

    return await db.write(op)

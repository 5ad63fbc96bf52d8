"""The notifier's reads and writes, each one transaction: read the events after the
cursor (or the escalations due) with what deciding needs, let the notifier's plan
decide, write the plan's messages into the outbox and move the cursor on.

Because the messages and the cursor commit together, an event is turned into its
messages exactly once, whichever controller does it and however often one crashes
(on PostgreSQL every write holds the one write lock: two notifiers take turns).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.core.messaging_ports import Planner
from ivr.domain.alerting import Person, Rule
from ivr.domain.notices import Context, Due, FeedEvent, Place, Plan, ReportFacts, TextSettings
from ivr.store import events, outbox
from ivr.store.db import Database
from ivr.store.reports import iso

CURSOR = "alerts"
CLOSED = ("false_report", "duplicate", "handed_over")


def _marks(items: Iterable[object]) -> str:
    return ",".join("?" for _ in items)


async def _reports(conn: aiosqlite.Connection, ids: set[int]) -> dict[int, ReportFacts]:
    if not ids:
        return {}
    rows = await conn.execute_fetchall(
        "SELECT id, municipality_id, type, emergency, state, caller, language, channel,"
        f" complete, service FROM reports WHERE id IN ({_marks(ids)})", tuple(ids))
    return {r[0]: ReportFacts(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7], bool(r[8]),
                              r[9]) for r in rows}


Fetch = Callable[[str, tuple[Any, ...]], Awaitable[Iterable[Any]]]


async def places(fetch: Fetch, ids: set[int], now: datetime) -> dict[int, Place]:
    """Each municipality's name, clock, rules, staff (who is on duty now) and texting;
    ``fetch``: a transaction's ``execute_fetchall``, or the store's ``fetchall``."""
    if not ids:
        return {}
    marks, at = _marks(ids), iso(now)
    rules: dict[int, list[Rule]] = {}
    for r in await fetch(
            "SELECT id, municipality_id, cause, audience, sms, email, after_s FROM alert_rules"
            f" WHERE active = 1 AND municipality_id IN ({marks}) ORDER BY id", tuple(ids)):
        rules.setdefault(r[1], []).append(Rule(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]),
                                               r[6]))
    people: dict[int, list[Person]] = {}
    for r in await fetch(
            "SELECT u.id, u.name, g.role, u.phone, u.email, u.language, u.quiet_from,"
            " u.quiet_until, g.municipality_id,"
            " (SELECT min(s.rank) FROM duty_shifts s WHERE s.user_id = u.id"
            "  AND s.municipality_id = g.municipality_id AND s.starts_at <= ?"
            "  AND s.ends_at > ?) AS duty_rank,"
            " (SELECT min(s.starts_at) FROM duty_shifts s WHERE s.user_id = u.id"
            "  AND s.municipality_id = g.municipality_id AND s.starts_at <= ?"
            "  AND s.ends_at > ?) AS duty_since"
            " FROM user_roles g JOIN users u ON u.id = g.user_id"
            f" WHERE u.active = 1 AND g.municipality_id IN ({marks}) ORDER BY u.id",
            (at, at, at, at, *ids)):
        people.setdefault(r[8], []).append(Person(
            r[0], r[1], r[2], r[3], r[4], r[5] or "es", r[6], r[7], r[9], r[10] or ""))
    texts: dict[int, TextSettings] = {}
    for r in await fetch(
            "SELECT municipality_id, number, receipt, on_dispatched, on_resolved, quiet_types"
            f" FROM sms_settings WHERE municipality_id IN ({marks})", tuple(ids)):
        texts[r[0]] = TextSettings(r[1], bool(r[2]), bool(r[3]), bool(r[4]),
                                   frozenset(json.loads(r[5] or "[]")))
    found = {}
    for r in await fetch(
            f"SELECT id, name, utc_offset_minutes FROM municipalities WHERE id IN ({marks})",
            tuple(ids)):
        found[r[0]] = Place(r[0], r[1], r[2], tuple(rules.get(r[0], ())),
                            tuple(people.get(r[0], ())), texts.get(r[0], TextSettings()))
    return found


async def _opted_out(conn: aiosqlite.Connection, reports: dict[int, ReportFacts]
                     ) -> frozenset[tuple[int, str]]:
    numbers = {r.caller for r in reports.values() if r.caller}
    if not numbers:
        return frozenset()
    rows = await conn.execute_fetchall(
        f"SELECT municipality_id, number FROM sms_optouts WHERE number IN ({_marks(numbers)})",
        tuple(numbers))
    return frozenset((r[0], r[1]) for r in rows)


async def _write(conn: aiosqlite.Connection, plan: Plan, now: datetime) -> int:
    queued = 0
    for msg in plan.messages:
        queued += (await outbox.enqueue(conn, msg, now)) is not None
    for e in plan.escalations:
        await conn.execute(
            "INSERT OR IGNORE INTO escalations (report_id, step, due_at, rule_id)"
            " VALUES (?, ?, ?, ?)", (e.report_id, e.step, iso(e.due_at), e.rule_id))
    return queued


async def advance(db: Database, planner: Planner, now: datetime, *, limit: int = 300,
                  kinds: frozenset[str] | None = None) -> tuple[int, int]:
    """Read up to ``limit`` events after the cursor; returns (events read, messages
    queued). ``kinds``: the events the planner looks at (the others only move the
    cursor on)."""

    async def op(conn: aiosqlite.Connection) -> tuple[int, int]:
        row = await (await conn.execute(
            "SELECT last_event FROM notifier_cursor WHERE name = ?", (CURSOR,))).fetchone()
        after = row[0] if row else 0
        rows = list(await conn.execute_fetchall(
            "SELECT id, kind, report_id, municipality_id, at, data FROM events WHERE id > ?"
            " ORDER BY id LIMIT ?", (after, limit)))
        if not rows:
            return 0, 0
        read = tuple(FeedEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"))
                     for r in rows if kinds is None or r[1] in kinds)
        queued = 0
        if read:
            reports = await _reports(conn, {e.report_id for e in read if e.report_id})
            where = {e.municipality for e in read if e.municipality} | {
                r.municipality for r in reports.values()}
            if any(e.municipality is None and e.report_id is None for e in read):
                # the deployment's own alerts (the AMI link, the journal): every municipality's
                where |= {r[0] for r in await conn.execute_fetchall(
                    "SELECT id FROM municipalities")}
            context = Context(now, events=read, reports=reports,
                              places=await places(conn.execute_fetchall, where, now),
                              opted_out=await _opted_out(conn, reports))
            queued = await _write(conn, planner(context), now)
        await conn.execute(
            "INSERT INTO notifier_cursor (name, last_event) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET last_event = excluded.last_event",
            (CURSOR, rows[-1][0]))
        return len(rows), queued

    return await db.write(op)


async def escalate(db: Database, planner: Planner, now: datetime, *, limit: int = 50) -> int:
    """Work the escalations now due; returns how many."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> int:
        rows = list(await conn.execute_fetchall(
            "SELECT report_id, step, rule_id FROM escalations WHERE done_at IS NULL"
            " AND due_at <= ? ORDER BY due_at LIMIT ?", (at, limit)))
        if not rows:
            return 0
        due = tuple(Due(r[0], r[1], r[2]) for r in rows)
        reports = await _reports(conn, {d.report_id for d in due})
        context = Context(now, due=due, reports=reports,
                          places=await places(conn.execute_fetchall,
                                              {r.municipality for r in reports.values()}, now))
        await _write(conn, planner(context), now)
        for d in due:
            await conn.execute(
                "UPDATE escalations SET done_at = ? WHERE report_id = ? AND step = ?",
                (at, d.report_id, d.step))
        return len(due)

    return await db.write(op)


async def announce_overdue(db: Database, now: datetime, *, limit: int = 100) -> int:
    """An ``alert.callback_overdue`` event, once, for each callback past its deadline."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> int:
        rows = list(await conn.execute_fetchall(
            "SELECT id, callback_due_at FROM reports WHERE callback_done_at IS NULL"
            " AND overdue_alerted_at IS NULL AND callback_due_at <= ?"
            f" AND state NOT IN ({_marks(CLOSED)}) ORDER BY callback_due_at LIMIT ?",
            (at, *CLOSED, limit)))
        for report, due in rows:
            await conn.execute("UPDATE reports SET overdue_alerted_at = ? WHERE id = ?",
                               (at, report))
            await events.append(conn, report, "alert.callback_overdue", at, actor="system",
                                data={"due_at": due})
        return len(rows)

    return await db.write(op)


async def raise_once(db: Database, kind: str, municipality: int | None, now: datetime,
                     data: dict[str, object]) -> int:
    """A deployment alert (``alert.ami_down``, ``alert.journal_waiting``) as an event."""
    async def op(conn: aiosqlite.Connection) -> int:
        return await events.append(conn, None, kind, iso(now), actor="system", data=dict(data),
                                   municipality=municipality)

    return await db.write(op)


async def escalations_due(db: Database, now: datetime) -> bool:
    row = await db.fetchone("SELECT 1 AS due FROM escalations WHERE done_at IS NULL"
                            " AND due_at <= ? LIMIT 1", (iso(now),))
    return row is not None


async def cursor_lag(db: Database) -> int:
    """Events not yet read by the notifier (for /metrics)."""
    row = await db.fetchone(
        "SELECT (SELECT coalesce(max(id), 0) FROM events)"
        " - coalesce((SELECT last_event FROM notifier_cursor WHERE name = ?), 0) AS lag",
        (CURSOR,))
    return int(row["lag"]) if row else 0


class AlertFeedStore:
    """``ivr.core.messaging_ports.AlertFeed`` on this store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.on_commit = db.on_commit

    async def lag(self) -> int:
        return await cursor_lag(self.db)

    async def advance(self, planner: Planner, now: datetime, *,
                      kinds: frozenset[str] | None = None) -> tuple[int, int]:
        return await advance(self.db, planner, now, kinds=kinds)

    async def escalations_due(self, now: datetime) -> bool:
        return await escalations_due(self.db, now)

    async def escalate(self, planner: Planner, now: datetime) -> int:
        return await escalate(self.db, planner, now)

    async def announce_overdue(self, now: datetime) -> int:
        return await announce_overdue(self.db, now)

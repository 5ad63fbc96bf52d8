"""Citizens' texts in the store: which municipality a number is, who said STOP, and each
incoming text handled in one transaction with everything it causes (the report it
opens, the opt-out, the reply queued in the outbox), so a text the gateway delivers
twice (it retries when it hears no answer) is handled once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from ivr.core.messaging_ports import Handling, IncomingSms
from ivr.domain.notices import TextSettings
from ivr.store import events, outbox
from ivr.store.casework import insert_report
from ivr.store.db import Database
from ivr.store.reports import iso


class TextStore:
    def __init__(self, db: Database, deadlines: Mapping[str, int]) -> None:
        self.db = db
        self.deadlines = deadlines

    async def municipality_for(self, number: str) -> tuple[int, str] | None:
        """The municipality whose SMS number ``number`` is. A deployment that has set no
        number at all and has one municipality: that one."""
        row = await self.db.fetchone(
            "SELECT m.id, m.name FROM sms_settings s JOIN municipalities m"
            " ON m.id = s.municipality_id WHERE s.number = ?", (number,))
        if row is not None:
            return int(row[0]), str(row[1])
        rows = await self.db.fetchall(
            "SELECT id, name, (SELECT count(*) FROM sms_settings WHERE number IS NOT NULL)"
            " AS numbered FROM municipalities ORDER BY id LIMIT 2")
        if len(rows) == 1 and not rows[0]["numbered"]:
            return int(rows[0]["id"]), str(rows[0]["name"])
        return None

    async def seen(self, ref: str | None) -> bool:
        if not ref:
            return False
        row = await self.db.fetchone("SELECT 1 AS seen FROM sms_incoming WHERE gateway_ref = ?",
                                     (ref,))
        return row is not None

    async def reports_from(self, sender: str, since: datetime) -> int:
        """Reports ``sender`` has opened by text since ``since`` (a flood is refused)."""
        row = await self.db.fetchone(
            "SELECT count(*) AS n FROM sms_incoming WHERE sender = ? AND received_at >= ?"
            " AND outcome = 'report'", (sender, iso(since)))
        return int(row["n"]) if row else 0

    async def report_of(self, report: int) -> tuple[str, str | None, str | None] | None:
        """(state, caller, language) of ``report``, or None. A citizen's case answers with
        its own state (``case_open``, ``case_answered``, ``case_closed``)."""
        row = await self.db.fetchone(
            "SELECT coalesce('case_' || c.state, r.state) AS state, r.caller, r.language"
            " FROM reports r LEFT JOIN cases c ON c.report_id = r.id WHERE r.id = ?",
            (report,))
        return (row["state"], row["caller"], row["language"]) if row else None

    async def handle(self, sms: IncomingSms, municipality: int | None, what: Handling,
                     now: datetime) -> tuple[bool, int | None]:
        """Record ``sms`` and do ``what`` in one transaction; returns (handled now, the
        report opened or asked about). False: this very text was handled before."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> tuple[bool, int | None]:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO sms_incoming (municipality_id, sender, recipient, body,"
                " gateway_ref, outcome, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (municipality, sms.sender, sms.to, sms.text, sms.gateway_ref, what.outcome, at))
            if not cur.rowcount:
                return False, None
            incoming = cur.lastrowid
            report = what.asked
            if what.report is not None:
                report = await insert_report(conn, what.report, "citizen:sms", now,
                                             self.deadlines, by_hand=False,
                                             language=what.language)
            if what.optout is not None and municipality is not None:
                if what.optout:
                    await conn.execute(
                        "INSERT OR IGNORE INTO sms_optouts (municipality_id, number, at)"
                        " VALUES (?, ?, ?)", (municipality, sms.sender, at))
                else:
                    await conn.execute("DELETE FROM sms_optouts WHERE municipality_id = ?"
                                       " AND number = ?", (municipality, sms.sender))
            if what.asked is not None:  # a lookup, answered or refused, is on the record
                await events.append(conn, what.asked, "report.status_texted", at,
                                    actor="citizen:sms", data={
                                        "from": f"…{sms.sender[-4:]}",
                                        "answered": what.outcome == "status"})
            reply = what.reply(report)
            if reply is not None:
                await outbox.enqueue(conn, reply, now)
            await conn.execute("UPDATE sms_incoming SET report_id = ? WHERE id = ?",
                               (report, incoming))
            return True, report

        return await self.db.write(op)

    # --- the municipality's texting settings (admins) -----------------------------

    async def settings(self, municipality: int) -> TextSettings:
        row = await self.db.fetchone(
            "SELECT number, receipt, on_dispatched, on_resolved, quiet_types FROM sms_settings"
            " WHERE municipality_id = ?", (municipality,))
        if row is None:
            return TextSettings()
        return TextSettings(row[0], bool(row[1]), bool(row[2]), bool(row[3]),
                            frozenset(json.loads(row[4] or "[]")))

    async def save_settings(self, municipality: int, texts: TextSettings, actor: str,
                            now: datetime) -> None:
        at = iso(now)
        data: dict[str, Any] = {"number": texts.number, "receipt": texts.receipt,
                                "on_dispatched": texts.on_dispatched,
                                "on_resolved": texts.on_resolved,
                                "quiet_types": sorted(texts.quiet_types)}

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO sms_settings (municipality_id, number, receipt, on_dispatched,"
                " on_resolved, quiet_types, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (municipality_id) DO UPDATE SET"
                " number = excluded.number, receipt = excluded.receipt,"
                " on_dispatched = excluded.on_dispatched, on_resolved = excluded.on_resolved,"
                " quiet_types = excluded.quiet_types, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at",
                (municipality, texts.number, int(texts.receipt), int(texts.on_dispatched),
                 int(texts.on_resolved), json.dumps(sorted(texts.quiet_types)), actor, at))
            await events.append(conn, None, "texts.settings_changed", at, actor=actor, data=data,
                                municipality=municipality)

        await self.db.write(op)

    async def incoming(self, municipality: int, limit: int = 100) -> Sequence[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, sender, body, outcome, report_id, received_at FROM sms_incoming"
            " WHERE municipality_id = ? ORDER BY id DESC LIMIT ?", (municipality, limit))
        return [dict(r) for r in rows]


def hour_before(now: datetime) -> datetime:
    return now - timedelta(hours=1)

"""The outbox: every text message and e-mail, from the moment something causes it until
the gateway or mail server has it, and what became of it then.

A message is written in the transaction of its cause (``enqueue``), so a crash between
the cause and the send loses nothing. Senders on any controller ``claim`` due rows
(leased: a sender that dies mid-send hands its rows back after ``lease_s``, at the cost
of maybe sending that one again), and ``settle`` each with what the gateway said. A
burst shares a ``group_key``: the first row due takes every pending row of its key and
goes as one message (``items``), the rest are ``grouped`` into it. Each step is an
event on the report's history (or the municipality's), the audit trail of messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from ivr.core.messaging_ports import Claimed, SendResult
from ivr.domain.alerting import Message, backoff_s
from ivr.domain.sms import segments
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

ACTIVE = ("pending", "sending")


def shown(recipient: str) -> str:
    """A recipient as the history shows it: enough to tell who, not a phone book."""
    if "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:2]}…@{domain}"
    return f"…{recipient[-4:]}"


async def enqueue(conn: aiosqlite.Connection, msg: Message, now: datetime) -> int | None:
    """Queue ``msg`` inside the caller's transaction; None when its ``dedup_key`` was
    queued before (the same cause never messages one recipient twice)."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO outbox (municipality_id, channel, recipient, user_id, report_id,"
        " purpose, urgent, subject, body, segments, dedup_key, group_key, not_before,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (msg.municipality, msg.channel, msg.recipient, msg.user_id, msg.report_id, msg.purpose,
         int(msg.urgent), msg.subject, msg.body,
         segments(msg.body) if msg.channel == "sms" else 0, msg.dedup_key, msg.group_key,
         iso(msg.not_before), iso(now)),
    )
    if not cur.rowcount:
        return None
    message = cur.lastrowid
    await _event(conn, msg.report_id, msg.municipality, "message.queued", iso(now), {
        "message": message, "channel": msg.channel, "to": shown(msg.recipient),
        "purpose": msg.purpose, "user": msg.user_id})
    return message


async def _event(conn: aiosqlite.Connection, report: int | None, municipality: int | None,
                 kind: str, at: str, data: dict[str, Any]) -> None:
    await events.append(conn, report, kind, at, actor="system", data=data,
                        municipality=municipality)


async def _settle(conn: aiosqlite.Connection, message: Claimed, result: SendResult,
                  now: datetime) -> None:
    at = iso(now)
    detail = result.detail[:300]
    data: dict[str, Any] = {"message": message.id, "channel": message.channel,
                            "to": shown(message.recipient), "attempt": message.attempts}
    if result.outcome == "sent":
        cur = await conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, gateway_ref = ?,"
            " last_error = NULL WHERE id = ? AND state = 'sending'",
            (at, result.gateway_ref, message.id))
        kind = "message.sent"
    elif result.outcome == "refused":
        cur = await conn.execute(
            "UPDATE outbox SET state = 'refused', settled_at = ?, last_error = ?"
            " WHERE id = ? AND state = 'sending'", (at, detail, message.id))
        kind, data["detail"] = "message.refused", detail
    else:
        wait = backoff_s(message.attempts, message.urgent)
        cur = await conn.execute(
            "UPDATE outbox SET state = 'pending', not_before = ?, last_error = ?,"
            " claimed_by = NULL WHERE id = ? AND state = 'sending'",
            (iso(now + timedelta(seconds=wait)), detail, message.id))
        # The history says when trying began to fail, not every try.
        kind = "message.retrying" if message.attempts == 1 else ""
        data.update(detail=detail, next_in_s=wait)
    if cur.rowcount and kind:
        if message.members:
            data["items"] = len(message.members)
        await _event(conn, message.report_id, message.municipality, kind, at, data)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.on_commit = db.on_commit

    async def due(self, now: datetime, *, lease_s: float = 120.0,
                  channels: tuple[str, ...] = ("sms", "email")) -> bool:
        """Whether a claim would find anything: a read, so an idle sender writes nothing."""
        marks = ",".join("?" * len(channels))
        row = await self.db.fetchone(
            "SELECT 1 AS due FROM outbox WHERE state = 'pending' AND not_before <= ?"
            f" AND channel IN ({marks}) UNION ALL SELECT 1 FROM outbox WHERE state = 'sending'"
            " AND claimed_at < ? LIMIT 1",
            (iso(now), *channels, iso(now - timedelta(seconds=lease_s))))
        return row is not None

    async def claim(self, owner: str, now: datetime, *, limit: int = 20,
                    lease_s: float = 120.0, channels: tuple[str, ...] = ("sms", "email")
                    ) -> list[Claimed]:
        """Up to ``limit`` due messages for ``owner`` to send, urgent first."""
        at = iso(now)
        marks = ",".join("?" * len(channels))

        async def op(conn: aiosqlite.Connection) -> list[Claimed]:
            await conn.execute(  # a sender that died mid-send: its rows go again
                "UPDATE outbox SET state = 'pending', claimed_by = NULL,"
                " last_error = 'the sender stopped before the gateway answered'"
                " WHERE state = 'sending' AND claimed_at < ?",
                (iso(now - timedelta(seconds=lease_s)),))
            rows = await conn.execute_fetchall(
                "SELECT j.id, j.channel, j.recipient, j.report_id, j.municipality_id, j.purpose,"
                " j.subject, j.body, j.attempts, j.group_key, j.urgent,"
                " (SELECT m.name FROM municipalities m WHERE m.id = j.municipality_id),"
                " (SELECT s.number FROM sms_settings s WHERE s.municipality_id = j.municipality_id)"
                " FROM outbox j"
                f" WHERE j.state = 'pending' AND j.not_before <= ? AND j.channel IN ({marks})"
                " ORDER BY j.urgent DESC, j.not_before, j.id LIMIT ?" + self.db.claim_lock,
                (at, *channels, limit))
            claimed: list[Claimed] = []
            taken: set[int] = set()
            for r in rows:
                if r[0] in taken:
                    continue
                members: tuple[tuple[int | None, str], ...] = ()
                if r[9] is not None:
                    group = await conn.execute_fetchall(
                        "SELECT id, report_id, body FROM outbox WHERE group_key = ?"
                        " AND state = 'pending' AND id != ? ORDER BY id", (r[9], r[0]))
                    members = tuple((g[1], g[2]) for g in group)
                    taken.update(g[0] for g in group)
                    if group:
                        await conn.execute(
                            "UPDATE outbox SET state = 'grouped', grouped_into = ?,"
                            " settled_at = ? WHERE group_key = ? AND state = 'pending'"
                            " AND id != ?", (r[0], at, r[9], r[0]))
                await conn.execute(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1,"
                    " claimed_by = ?, claimed_at = ?, items = ? WHERE id = ?",
                    (owner, at, 1 + len(members), r[0]))
                claimed.append(Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                                       r[8] + 1, r[11] or "",
                                       ((r[3], r[7]), *members) if members else (),
                                       bool(r[10]), r[12]))
            return claimed

        return await self.db.write(op)

    async def settle(self, message: Claimed, result: SendResult, now: datetime) -> None:
        """Record what the gateway said about ``message``."""
        await self.settle_many([(message, result)], now)

    async def settle_many(self, results: list[tuple[Claimed, SendResult]], now: datetime
                          ) -> None:
        """``settle`` for a batch, in one transaction."""
        async def op(conn: aiosqlite.Connection) -> None:
            for message, result in results:
                await _settle(conn, message, result, now)

        await self.db.write(op)

    async def hurry(self, channel: str, now: datetime) -> int:
        """The gateway took a message again: what waits out a backoff on ``channel`` goes
        now (a gateway back after an outage is not left idle for minutes)."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "UPDATE outbox SET not_before = ? WHERE state = 'pending' AND channel = ?"
                " AND attempts > 0 AND not_before > ?", (at, channel, at))
            return cur.rowcount

        return await self.db.write(op)

    async def delivery_report(self, message: int, delivered: bool, detail: str,
                              now: datetime) -> bool:
        """The gateway's later word on a sent message; False when there is no such message
        still waiting for one (a report repeated, or for a message of another system)."""
        at = iso(now)
        state = "delivered" if delivered else "undelivered"

        async def op(conn: aiosqlite.Connection) -> bool:
            row = await (await conn.execute(
                "SELECT report_id, municipality_id, channel, recipient FROM outbox"
                " WHERE id = ? AND state IN ('sent', 'sending')", (message,))).fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE outbox SET state = ?, settled_at = ?, last_error = ? WHERE id = ?",
                (state, at, None if delivered else detail[:300] or "not delivered", message))
            await _event(conn, row[0], row[1], f"message.{state}", at, {
                "message": message, "channel": row[2], "to": shown(row[3]),
                **({"detail": detail[:300]} if detail else {})})
            return True

        return await self.db.write(op)

    async def send_again(self, message: int, municipality: int, actor: str,
                         now: datetime) -> bool:
        """A supervisor sends a refused or undelivered message again (audited)."""
        at = iso(now)

        async def op(conn: aiosqlite.Connection) -> bool:
            row = await (await conn.execute(
                "SELECT report_id FROM outbox WHERE id = ? AND municipality_id = ?"
                " AND state IN ('refused', 'undelivered')", (message, municipality))).fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE outbox SET state = 'pending', not_before = ?, settled_at = NULL"
                " WHERE id = ?", (at, message))
            await events.append(conn, row[0], "message.requeued", at, actor=actor,
                                data={"message": message}, municipality=municipality)
            return True

        return await self.db.write(op)

    # --- reads: the supervision page, a report's messages, /metrics -----------------

    async def summary(self, municipality: int | None, now: datetime) -> dict[str, Any]:
        """Counts by channel and state, and the oldest message still waiting."""
        where, params = ("WHERE municipality_id = ?", (municipality,)) if municipality else (
            "", ())
        rows = await self.db.fetchall(
            f"SELECT channel, state, count(*) AS n FROM outbox {where} GROUP BY channel, state",
            params)
        oldest = await self.db.fetchone(
            "SELECT min(created_at) AS at FROM outbox WHERE state IN ('pending', 'sending')"
            + (" AND municipality_id = ?" if municipality else ""), params)
        counts: dict[str, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r["channel"], {})[r["state"]] = int(r["n"])
        waiting_s = 0.0
        if oldest and oldest["at"]:
            waiting_s = max(0.0, (now - datetime.fromisoformat(oldest["at"])).total_seconds())
        return {"counts": counts, "oldest_waiting_s": waiting_s}

    async def listing(self, municipality: int, *, states: tuple[str, ...] = (),
                      report: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        clauses: list[str] = ["municipality_id = ?"]
        params: list[Any] = [municipality]
        if states:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            params += states
        if report is not None:
            clauses.append("report_id = ?")
            params.append(report)
        rows = await self.db.fetchall(
            "SELECT id, channel, recipient, user_id, report_id, purpose, urgent, subject, body,"
            " segments, items, state, attempts, not_before, grouped_into, last_error,"
            " created_at, sent_at, settled_at FROM outbox WHERE " + " AND ".join(clauses)
            + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [dict(r) for r in rows]

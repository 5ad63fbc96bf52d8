"""Reports as the call flow writes them, and as the CLI reads them."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from ivr.core.ports import Location, NewReport, ReportStatus
from ivr.domain.clips import ClipInfo
from ivr.domain.municipalities import number_of
from ivr.domain.reports import ReportState
from ivr.store import events
from ivr.store.db import Database, Op
from ivr.store.numbers import next_free_number

DEFAULT_CALLBACK_MINUTES = 24 * 60


def callback_due(deadlines: Mapping[str, int], type_id: str, moment: datetime) -> str:
    """When a report of ``type_id`` opened at ``moment`` must be called back (ISO UTC)."""
    return iso(moment + timedelta(minutes=deadlines.get(type_id, DEFAULT_CALLBACK_MINUTES)))


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Service:
    """A report that opens a service's record with it, in the same transaction (a
    participation case): the report is marked with ``name``, has no callback deadline,
    comes by ``channel``; ``write(conn, report, now)`` adds the service's own rows and
    ``data`` goes into the ``report.opened`` event."""

    name: str
    channel: str
    write: Callable[[aiosqlite.Connection, int, str], Awaitable[None]]
    actor: str = "ivr"
    data: Mapping[str, Any] = field(default_factory=dict)


class Reports:
    """Implements ``ivr.core.ports.ReportBook`` on the store."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        deadlines: Mapping[str, int] | None = None,
        controller: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.controller = controller  # the controller whose calls these are (several share a store)
        # Minutes to call the citizen back, per incident type (configuration).
        self.deadlines: Mapping[str, int] = deadlines or {}

    # Each change is an operation built here and run by the store's writer: at once
    # (the methods below), or later from the journal (ivr.store.resilient), with the
    # moment it happened and, when it comes from the journal, its record key.

    def op_open(self, new: NewReport, moment: datetime, number: int | None = None, *,
                service: Service | None = None) -> Op:
        now = iso(moment)
        due = None if service is not None else (
            iso(moment + timedelta(minutes=new.callback_minutes)) if new.callback_minutes
            else callback_due(self.deadlines, new.type_id, moment))

        async def op(conn: aiosqlite.Connection) -> int:
            report = (number if number is not None
                      else await next_free_number(conn, new.municipality))
            await conn.execute(
                "INSERT INTO reports (id, municipality_id, type, priority, emergency, language,"
                " caller, caller_source, caller_id_raw, call_id, created_at, updated_at,"
                " callback_due_at, controller) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report,
                    new.municipality,
                    new.type_id,
                    new.priority,
                    int(new.emergency),
                    new.language,
                    new.caller,
                    "callerid" if new.caller else None,
                    new.caller_id_raw,
                    new.call_id,
                    now,
                    now,
                    due,
                    self.controller,
                ),
            )
            if service is not None:
                await conn.execute("UPDATE reports SET service = ?, channel = ? WHERE id = ?",
                                   (service.name, service.channel, report))
                await service.write(conn, report, now)
            await events.append(
                conn,
                report,
                "report.opened",
                now,
                actor=service.actor if service is not None else "ivr",
                data={"type": new.type_id, "priority": new.priority,
                      "channel": service.channel if service is not None else "ivr",
                      **({"line": new.line} if new.line else {}),
                      **(dict(service.data) if service is not None else {})},
            )
            return report

        return op

    def _op_update(self, report: int, kind: str, data: dict[str, Any], sql: str,
                   params: tuple[Any, ...], moment: datetime) -> Op:
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(sql, (*params, now, report))
            if cur.rowcount != 1:
                raise LookupError(f"no report {report}")
            await events.append(conn, report, kind, now, data=data)

        return op

    def op_callback(self, report: int, number: str | None, source: str,
                    moment: datetime) -> Op:
        return self._op_update(
            report,
            "report.callback_number",
            {"number": number, "source": source},
            "UPDATE reports SET caller = ?, caller_source = ?, updated_at = ? WHERE id = ?",
            (number, source),
            moment,
        )

    def op_location(self, report: int, location: Location, moment: datetime) -> Op:
        return self._op_update(
            report,
            "report.location",
            {"zone": location.zone, "address": location.address, "source": location.source},
            "UPDATE reports SET zone = ?, address = ?, lat = ?, lon = ?, location_source = ?,"
            " updated_at = ? WHERE id = ?",
            (location.zone, location.address, location.lat, location.lon, location.source),
            moment,
        )

    def op_clip(self, report: int, take: int, clip: ClipInfo, moment: datetime) -> Op:
        now = iso(moment)

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO clips (report_id, take, path, seconds, bytes, sha256, partial,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (report, take, clip.path, clip.seconds, clip.bytes, clip.sha256,
                 int(clip.partial), now),
            )
            await conn.execute("UPDATE reports SET updated_at = ? WHERE id = ?", (now, report))
            await events.append(
                conn,
                report,
                "report.clip_attached",
                now,
                data={"take": take, "path": clip.path, "seconds": clip.seconds,
                      "partial": clip.partial},
            )

        return op

    def op_close(self, report: int, complete: bool, outcome: str, last_step: str | None,
                 moment: datetime) -> Op:
        return self._op_update(
            report,
            "call.ended",
            {"complete": complete, "outcome": outcome, "last_step": last_step},
            "UPDATE reports SET complete = ?1, call_outcome = ?2, call_last_step = ?3,"
            " call_ended_at = ?4, updated_at = ?4 WHERE id = ?5",
            (int(complete), outcome, last_step),
            moment,
        )

    async def open_report(self, new: NewReport) -> int:
        result: int = await self.db.write(self.op_open(new, self.clock()))
        return result

    async def set_callback(self, report: int, number: str | None, source: str) -> None:
        await self.db.write(self.op_callback(report, number, source, self.clock()))

    async def set_location(self, report: int, location: Location) -> None:
        await self.db.write(self.op_location(report, location, self.clock()))

    async def attach_clip(self, report: int, take: int, clip: ClipInfo) -> None:
        await self.db.write(self.op_clip(report, take, clip, self.clock()))

    async def close_call(
        self, report: int, *, complete: bool, outcome: str, last_step: str | None
    ) -> None:
        await self.db.write(self.op_close(report, complete, outcome, last_step, self.clock()))

    async def status(self, number: int) -> ReportStatus | None:
        row = await self.db.fetchone(
            "SELECT id, state, updated_at FROM reports WHERE id = ?", (number,)
        )
        if row is None:
            return None
        # The caller hears when the *case* last changed, not when our bookkeeping did.
        ev = await self.db.fetchone(
            "SELECT at FROM events WHERE report_id = ? AND kind IN ('report.opened',"
            " 'report.state_changed') ORDER BY id DESC LIMIT 1",
            (number,),
        )
        changed = datetime.fromisoformat(ev["at"] if ev else row["updated_at"])
        return ReportStatus(row["id"], ReportState(row["state"]), changed)

    async def listing(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Reports with their current clip, newest first, as plain data."""
        rows = await self.db.fetchall(
            "SELECT r.*, c.path AS clip_path, c.seconds AS clip_seconds,"
            " c.partial AS clip_partial, c.take AS clip_take"
            " FROM reports r LEFT JOIN clips c ON c.id = ("
            "   SELECT id FROM clips WHERE report_id = r.id ORDER BY take DESC LIMIT 1)"
            " ORDER BY r.id DESC" + (" LIMIT ?" if limit else ""),
            (limit,) if limit else (),
        )
        return [_public(row) for row in rows]

    async def history(self, report: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, at, actor, kind, data FROM events WHERE report_id = ? ORDER BY id",
            (report,),
        )
        return [dict(row) for row in rows]


def _public(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    return {
        "id": data["id"],
        "number": number_of(data["id"]),  # as the municipality's callers hear it
        "municipality": data["municipality_id"],
        "type": data["type"],
        "priority": data["priority"],
        "emergency": bool(data["emergency"]),
        "state": data["state"],
        "complete": bool(data["complete"]),
        "channel": data["channel"],
        "language": data["language"],
        "caller": data["caller"],
        "caller_source": data["caller_source"],
        "zone": data["zone"],
        "address": data["address"],
        "clip_path": data["clip_path"],
        "clip_seconds": data["clip_seconds"],
        "clip_partial": bool(data["clip_partial"]) if data["clip_partial"] is not None else None,
        "call_outcome": data["call_outcome"],
        "call_last_step": data["call_last_step"],
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
    }


async def report_exists(db: Database, report: int) -> bool:
    return await db.fetchone("SELECT 1 FROM reports WHERE id = ?", (report,)) is not None


async def clip_taken(db: Database, report: int, take: int) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM clips WHERE report_id = ? AND take = ?", (report, take)
    )
    return row is not None


async def clip_paths_since(db: Database, day_prefix: str) -> set[str]:
    rows = await db.fetchall("SELECT path FROM clips WHERE path >= ?", (day_prefix,))
    return {row["path"] for row in rows}

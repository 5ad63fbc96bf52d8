"""What the console reads: the live queue, search, a report's page, the event feed.

Reads go to the read-only connection. Every list is bounded and walks an index,
so pages stay fast at millions of reports (see bench/console.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ivr.domain.reports import OPEN_STATES_SQL
from ivr.store.db import Database

QUEUE_LIMIT = 300
PAGE = 50
_WORD = re.compile(r"\w+", re.UNICODE)

_CLIP = (
    "(SELECT c.seconds FROM clips c WHERE c.report_id = r.id ORDER BY c.take DESC LIMIT 1)"
    " AS clip_seconds"
)
_COLUMNS = (
    "r.id, r.type, r.priority, r.emergency, r.state, r.complete, r.channel, r.caller,"
    " r.zone, r.address, r.created_at, r.updated_at, r.call_ended_at, r.call_outcome,"
    " r.call_last_step, r.callback_due_at, r.callback_done_at, r.reserved_by, r.reserved_at,"
    " r.unit, r.flagged, r.summary, " + _CLIP
)


@dataclass
class Filters:
    types: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    zone: str = ""
    since: str = ""  # ISO timestamps (UTC)
    until: str = ""
    caller: str = ""  # digits
    words: str = ""
    before: int | None = None  # keyset: reports older than this id

    def active(self) -> bool:
        return bool(self.types or self.states or self.zone or self.since or self.until
                    or self.caller or self.words)


def fts_query(words: str) -> str:
    """Free text → an FTS5 query of quoted prefix terms: no operator can be injected."""
    terms = _WORD.findall(words)[:8]
    return " ".join(f'"{t}"*' for t in terms)


class ConsoleQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def queue(self, limit: int = QUEUE_LIMIT) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM reports r INDEXED BY reports_open_queue"
            f" WHERE r.state IN {OPEN_STATES_SQL} ORDER BY r.priority, r.created_at LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    async def open_count(self) -> int:
        row = await self.db.fetchone(
            f"SELECT count(*) AS n FROM reports WHERE state IN {OPEN_STATES_SQL}"
        )
        return int(row["n"]) if row else 0

    async def search(self, f: Filters, per_page: int = PAGE) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        if f.types:
            where.append(f"r.type IN ({','.join('?' * len(f.types))})")
            params += f.types
        if f.states:
            where.append(f"r.state IN ({','.join('?' * len(f.states))})")
            params += f.states
        if f.zone:
            where.append("r.zone = ?")
            params.append(f.zone)
        if f.since:
            where.append("r.created_at >= ?")
            params.append(f.since)
        if f.until:
            where.append("r.created_at < ?")
            params.append(f.until)
        if f.caller:
            where.append("r.caller = ?")
            params.append(f.caller)
        query = fts_query(f.words)
        if f.words and not query:
            return []
        if query:
            where.append(
                "r.id IN (SELECT report_id FROM report_text WHERE report_text MATCH ?)"
            )
            params.append(query)
        if f.before is not None:
            where.append("r.id < ?")
            params.append(f.before)
        sql = f"SELECT {_COLUMNS} FROM reports r"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.id DESC LIMIT ?"
        rows = await self.db.fetchall(sql, (*params, per_page))
        return [dict(r) for r in rows]

    async def report(self, report: int) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS}, r.lat, r.lon, r.location_source, r.language, r.caller_source,"
            " r.duplicate_of, r.entered_by, r.first_action_at, r.legal_hold,"
            " r.clips_released_at, r.clips_released_by"
            " FROM reports r WHERE r.id = ?",
            (report,),
        )
        return dict(row) if row else None

    async def clips(self, report: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, take, path, seconds, bytes, partial, created_at, purged_at FROM clips"
            " WHERE report_id = ? ORDER BY take",
            (report,),
        )
        return [dict(r) for r in rows]

    async def clip(self, report: int, clip_id: int | None) -> sqlite3.Row | None:
        if clip_id is None:
            return await self.db.fetchone(
                "SELECT id, path, bytes, purged_at FROM clips WHERE report_id = ?"
                " ORDER BY take DESC LIMIT 1",
                (report,),
            )
        return await self.db.fetchone(
            "SELECT id, path, bytes, purged_at FROM clips WHERE report_id = ? AND id = ?",
            (report, clip_id),
        )

    async def history(self, report: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, at, actor, kind, data FROM events WHERE report_id = ? ORDER BY id",
            (report,),
        )
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    async def callbacks(self, report: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT * FROM callbacks WHERE report_id = ? ORDER BY id DESC", (report,)
        )
        return [dict(r) for r in rows]

    async def caller_reports(
        self, caller: str, exclude: int, limit: int = 20
    ) -> list[dict[str, Any]]:
        if not caller:
            return []
        rows = await self.db.fetchall(
            "SELECT id, type, state, created_at FROM reports WHERE caller = ? AND id != ?"
            " ORDER BY id DESC LIMIT ?",
            (caller, exclude, limit),
        )
        return [dict(r) for r in rows]

    async def events_after(self, last_id: int, limit: int = 500) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, report_id, at, actor, kind, data FROM events WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (last_id, limit),
        )
        return [dict(r) for r in rows]

    async def last_event_id(self) -> int:
        row = await self.db.fetchone("SELECT max(id) AS n FROM events")
        return int(row["n"] or 0) if row else 0

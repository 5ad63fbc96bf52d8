"""What the console reads: the live queue, search, a report's page, the event feed.

Reads go to the read-only connection. Every list is bounded and walks an index,
so pages stay fast at millions of reports (see bench/console.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr.domain.municipalities import RANGE, first_id, last_id, municipality_of
from ivr.domain.reports import OPEN_STATES_SQL
from ivr.store.db import Database

# A report's clips: its own, or, for a report handed over from a neighbour, the
# original's (kept once, under the report they were recorded for). ?1: the report.
CLIPS_OF = ("report_id IN (?1, (SELECT handed_over_from FROM reports WHERE id = ?1"
            " AND handed_over_from IS NOT NULL))")
QUEUE_LIMIT = 300
SCAN = 2000  # events read per call of events_after
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


WINDOW_DAYS = 92  # a date window this narrow is read by date, not by walking the ids


def _narrow(f: Filters) -> bool:
    if not (f.since and f.until):
        return False
    try:
        span = datetime.fromisoformat(f.until) - datetime.fromisoformat(f.since)
    except ValueError:
        return False
    return span.days <= WINDOW_DAYS


class ConsoleQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Every read is of one municipality's reports: a report id names its municipality
    # (ivr.domain.municipalities), so a range of ids is a municipality's reports. The
    # live queue is of incidents: citizens' cases (reports with a ``service``) have their
    # own (ivr.store.case_views).

    async def queue(self, municipality: int, limit: int = QUEUE_LIMIT) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM reports r INDEXED BY reports_open_queue"
            f" WHERE r.municipality_id = ? AND r.state IN {OPEN_STATES_SQL}"
            " AND r.service IS NULL ORDER BY r.priority, r.created_at LIMIT ?",
            (municipality, limit),
        )
        return [dict(r) for r in rows]

    async def open_count(self, municipality: int) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) AS n FROM reports INDEXED BY reports_open_queue"
            f" WHERE municipality_id = ? AND state IN {OPEN_STATES_SQL} AND service IS NULL",
            (municipality,)
        )
        return int(row["n"]) if row else 0

    async def search(self, f: Filters, municipality: int,
                     per_page: int = PAGE) -> list[dict[str, Any]]:
        # The municipality's range of ids as one upper bound the planner may walk (newest
        # first, and the keyset page) and a lower bound it only checks (``+``: with a
        # range on both sides it would walk the ids even where a type or zone index is
        # the better way; see bench/console.py).
        upper = last_id(municipality)
        if f.before is not None:
            upper = min(upper, f.before - 1)
        # Incident reports only: citizens' cases are searched on their own pages.
        where: list[str] = ["r.id <= ?", "+r.id >= ?", "r.service IS NULL"]
        params: list[Any] = [upper, first_id(municipality)]
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
        sql = f"SELECT {_COLUMNS} FROM reports r WHERE " + " AND ".join(where)
        # Newest first is a walk down the ids, which for a closed window of dates far
        # back goes through every report since (ids follow time; planners think the
        # matches are spread evenly: a month two years back took 1.8 s on PostgreSQL at
        # 10 M reports). A window of up to three months is read through a date index and
        # sorted instead (``+ 0``: the ids' order cannot be walked); see bench/console.py.
        sql += f" ORDER BY {'r.id + 0' if _narrow(f) else 'r.id'} DESC LIMIT ?"
        rows = await self.db.fetchall(sql, (*params, per_page))
        return [dict(r) for r in rows]

    async def report(self, report: int, municipality: int | None = None
                     ) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS}, r.lat, r.lon, r.location_source, r.language, r.caller_source,"
            " r.duplicate_of, r.entered_by, r.first_action_at, r.legal_hold,"
            " r.clips_released_at, r.clips_released_by, r.handed_over_to"
            " FROM reports r WHERE r.id = ? AND r.municipality_id = ?",
            (report, municipality_of(report) if municipality is None else municipality),
        )
        return dict(row) if row else None

    async def is_case(self, report: int) -> bool:
        """Is this report a citizen's case (a participation line's), not an incident?"""
        row = await self.db.fetchone(
            "SELECT 1 FROM reports WHERE id = ? AND service IS NOT NULL", (report,))
        return row is not None

    async def clips(self, report: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT id, take, path, seconds, bytes, partial, created_at, purged_at FROM clips"
            f" WHERE {CLIPS_OF} ORDER BY take",
            (report,),
        )
        return [dict(r) for r in rows]

    async def clip(self, report: int, clip_id: int | None) -> sqlite3.Row | None:
        if clip_id is None:
            return await self.db.fetchone(
                f"SELECT id, path, bytes, purged_at FROM clips WHERE {CLIPS_OF}"
                " ORDER BY take DESC LIMIT 1",
                (report,),
            )
        return await self.db.fetchone(
            f"SELECT id, path, bytes, purged_at FROM clips WHERE {CLIPS_OF} AND id = ?2",
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
        # the same municipality's reports only (the excluded one names it)
        rows = await self.db.fetchall(
            "SELECT id, type, state, created_at FROM reports WHERE municipality_id = ?"
            " AND caller = ? AND id != ? ORDER BY id DESC LIMIT ?",
            (municipality_of(exclude), caller, exclude, limit),
        )
        return [dict(r) for r in rows]

    async def events_after(self, last_id: int, municipality: int,
                           limit: int = 500) -> list[dict[str, Any]]:
        """The municipality's events after ``last_id``: its reports' (a report's id names
        its municipality) and its own (lines, users); never the deployment's or another's.
        Reads at most ``SCAN`` rows a call, so a resume far back answers in bounded time;
        the last id read comes back as ``{"id": n, "skip": True}`` when nothing matched."""
        rows = await self.db.fetchall(
            "SELECT id, report_id, at, actor, kind, data, coalesce(municipality_id,"
            f" report_id / {RANGE} + 1) AS owner FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (last_id, SCAN),
        )
        out = [dict(r) for r in rows if r["owner"] == municipality][:limit]
        if not out and rows:
            return [{"id": rows[-1]["id"], "skip": True}]
        if len(out) == limit or len(rows) < SCAN:
            return out
        return [*out, {"id": rows[-1]["id"], "skip": True}]

    async def last_event_id(self) -> int:
        row = await self.db.fetchone("SELECT max(id) AS n FROM events")
        return int(row["n"] or 0) if row else 0

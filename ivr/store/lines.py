"""Lines in the store: drafts, published versions, the numbers that reach them, prompt audio.

Documents are kept as JSON text, exactly as ``LineConfig.to_dict`` makes them, so a
published version reads back as it was published. Every change is an audit event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.core.records import LineConflict as LineConflict
from ivr.core.records import LineRow, VersionRow
from ivr.domain.lines import LineConfig, document_sha, document_text
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso, utc_now

_LINE = "SELECT id, slug, flow, is_default, live_version, draft IS NOT NULL AS has_draft," \
        " draft_at, draft_by, municipality_id FROM lines"


def _line(row: aiosqlite.Row) -> LineRow:
    return LineRow(row["id"], row["slug"], row["flow"], bool(row["is_default"]),
                   row["live_version"], bool(row["has_draft"]), row["draft_at"], row["draft_by"],
                   row["municipality_id"])


def _version(row: aiosqlite.Row) -> VersionRow:
    return VersionRow(row["line_id"], row["version"], json.loads(row["document"]),
                      row["document_sha"], row["published_at"], row["published_by"], row["note"])


async def _owner(conn: aiosqlite.Connection, line_id: int) -> int | None:
    async with conn.execute("SELECT municipality_id FROM lines WHERE id = ?", (line_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else None


class LineStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    # --- reading ------------------------------------------------------------------

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT count(*) AS n FROM lines")
        return int(row["n"]) if row else 0

    async def all(self, municipality: int | None = None) -> list[LineRow]:
        """Every line, or the lines of one municipality."""
        if municipality is None:
            return [_line(r) for r in await self.db.fetchall(_LINE + " ORDER BY flow, slug")]
        return [_line(r) for r in await self.db.fetchall(
            _LINE + " WHERE municipality_id = ? ORDER BY flow, slug", (municipality,))]

    async def get(self, line_id: int) -> LineRow | None:
        row = await self.db.fetchone(_LINE + " WHERE id = ?", (line_id,))
        return _line(row) if row else None

    async def by_slug(self, slug: str) -> LineRow | None:
        row = await self.db.fetchone(_LINE + " WHERE slug = ?", (slug,))
        return _line(row) if row else None

    async def draft_document(self, line_id: int) -> dict[str, Any] | None:
        """The draft, or the live version when nothing was edited since; None: no such line."""
        row = await self.db.fetchone(
            "SELECT l.draft, v.document FROM lines l LEFT JOIN line_versions v"
            " ON v.line_id = l.id AND v.version = l.live_version WHERE l.id = ?", (line_id,))
        if row is None:
            return None
        text = row["draft"] or row["document"]
        return json.loads(text) if text else None

    async def versions(self, line_id: int) -> list[VersionRow]:
        rows = await self.db.fetchall(
            "SELECT * FROM line_versions WHERE line_id = ? ORDER BY version DESC", (line_id,))
        return [_version(r) for r in rows]

    async def version(self, line_id: int, version: int) -> VersionRow | None:
        row = await self.db.fetchone(
            "SELECT * FROM line_versions WHERE line_id = ? AND version = ?", (line_id, version))
        return _version(row) if row else None

    async def live_for_call(
        self, dialled: str | None, flow: str | None
    ) -> tuple[int, int, bool, int] | None:
        """(line id, live version, whether the number matched, municipality) for a call; a number no
        line of ``flow`` claims reaches the default line of ``flow`` (of ``report`` when
        any flow will do). One or two indexed reads per call."""
        if dialled:
            row = await self.db.fetchone(
                "SELECT l.id, l.live_version, l.municipality_id FROM line_numbers n"
                " JOIN lines l ON l.id = n.line_id"
                " WHERE n.number = ? AND l.live_version IS NOT NULL AND ? IN (l.flow, '*')",
                (dialled, flow or "*"))
            if row is not None:
                return row["id"], row["live_version"], True, row["municipality_id"]
        row = await self.db.fetchone(
            "SELECT id, live_version, municipality_id FROM lines WHERE flow = ? AND is_default = 1"
            " AND live_version IS NOT NULL", (flow or "report",))
        return (row["id"], row["live_version"], False, row["municipality_id"]) if row else None

    async def uses_audio(self, municipality: int, sha: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM lines l LEFT JOIN line_versions v ON v.line_id = l.id"
            " WHERE l.municipality_id = ?1"
            " AND (instr(l.draft, ?2) > 0 OR instr(v.document, ?2) > 0)"
            " LIMIT 1", (municipality, sha))
        return row is not None

    # --- writing ------------------------------------------------------------------

    async def create(self, config: LineConfig, *, actor: str, default: bool = False,
                     municipality: int = 1) -> int:
        """A new line holding ``config`` as its draft (nothing is live until published)."""
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> int:
            if default:
                await conn.execute("UPDATE lines SET is_default = 0 WHERE flow = ?",
                                   (config.flow.value,))
            try:
                cur = await conn.execute(
                    "INSERT INTO lines (slug, flow, is_default, draft, draft_at, draft_by,"
                    " created_at, municipality_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (config.slug, config.flow.value, int(default), document_text(config), now,
                     actor, now, municipality))
            except aiosqlite.IntegrityError:
                raise LineConflict(f"a line called {config.slug!r} exists already") from None
            assert cur.lastrowid is not None
            await events.append(conn, None, "line.created", now, actor=actor,
                                data={"line": cur.lastrowid, "slug": config.slug},
                                municipality=municipality)
            return cur.lastrowid

        return await self.db.write(op)

    async def save_draft(self, line_id: int, config: LineConfig, *, actor: str,
                         what: str = "") -> None:
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                "SELECT slug FROM lines WHERE slug = ? AND id != ?", (config.slug, line_id))
            if await cur.fetchone():
                raise LineConflict(f"another line is called {config.slug!r}")
            cur = await conn.execute(
                "UPDATE lines SET draft = ?, draft_at = ?, draft_by = ?, slug = ? WHERE id = ?",
                (document_text(config), now, actor, config.slug, line_id))
            if cur.rowcount != 1:
                raise LineConflict("no such line")
            await events.append(conn, None, "line.draft_saved", now, actor=actor,
                                data={"line": line_id, "what": what[:200]},
                                municipality=await _owner(conn, line_id))

        await self.db.write(op)

    async def discard_draft(self, line_id: int, *, actor: str) -> None:
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute("UPDATE lines SET draft = NULL, draft_at = NULL, draft_by = NULL"
                               " WHERE id = ? AND live_version IS NOT NULL", (line_id,))
            await events.append(conn, None, "line.draft_discarded", now, actor=actor,
                                data={"line": line_id}, municipality=await _owner(conn, line_id))

        await self.db.write(op)

    async def publish(self, line_id: int, config: LineConfig, *, actor: str, note: str = "",
                      restored_from: int | None = None) -> int:
        """Make ``config`` the live version (a new version number) in one transaction:
        the version row, the line's numbers, the draft cleared and the audit event."""
        now = iso(self.clock())
        text, sha = document_text(config), document_sha(config)

        async def op(conn: aiosqlite.Connection) -> int:
            for number in config.numbers:
                cur = await conn.execute(
                    "SELECT l.slug, l.municipality_id = (SELECT municipality_id FROM lines"
                    " WHERE id = ?2) AS ours FROM line_numbers n JOIN lines l ON l.id = n.line_id"
                    " WHERE n.number = ?1 AND n.line_id != ?2", (number, line_id))
                other = await cur.fetchone()
                if other is not None:  # another municipality's line is not named
                    raise LineConflict(f"number {number} already reaches line {other['slug']}"
                                       if other["ours"] else f"number {number} is taken")
            cur = await conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM line_versions WHERE line_id = ?",
                (line_id,))
            row = await cur.fetchone()
            version = int(row[0]) if row else 1
            await conn.execute(
                "INSERT INTO line_versions (line_id, version, document, document_sha,"
                " published_at, published_by, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (line_id, version, text, sha, now, actor, note[:300]))
            # A publish makes the draft live; a restore leaves an admin's draft alone.
            keep = restored_from is not None
            cur = await conn.execute(
                "UPDATE lines SET live_version = ?, slug = ?,"
                " draft = CASE WHEN ? THEN draft END, draft_at = CASE WHEN ? THEN draft_at END,"
                " draft_by = CASE WHEN ? THEN draft_by END WHERE id = ?",
                (version, config.slug, keep, keep, keep, line_id))
            if cur.rowcount != 1:
                raise LineConflict("no such line")
            await conn.execute("DELETE FROM line_numbers WHERE line_id = ?", (line_id,))
            await conn.executemany("INSERT INTO line_numbers (number, line_id) VALUES (?, ?)",
                                   [(n, line_id) for n in config.numbers])
            data: dict[str, Any] = {"line": line_id, "version": version, "note": note[:300]}
            if restored_from is not None:
                data["restored_from"] = restored_from
            kind = "line.restored" if restored_from is not None else "line.published"
            await events.append(conn, None, kind, now, actor=actor, data=data,
                                municipality=await _owner(conn, line_id))
            return version

        return await self.db.write(op)

    async def add_audio(self, sha: str, seconds: float, *, source: str, actor: str) -> None:
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO prompt_audio (sha256, seconds, source, added_at, added_by)"
                " VALUES (?, ?, ?, ?, ?)", (sha, round(seconds, 3), source, now, actor))
            if cur.rowcount and source != "shipped":
                await events.append(conn, None, "prompt.audio_added", now, actor=actor,
                                    data={"audio": sha, "source": source,
                                          "seconds": round(seconds, 2)})

        await self.db.write(op)

    async def add_audio_many(self, seconds: dict[str, float], *, source: str,
                             actor: str) -> None:
        now = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "INSERT OR IGNORE INTO prompt_audio (sha256, seconds, source, added_at, added_by)"
                " VALUES (?, ?, ?, ?, ?)",
                [(sha, round(s, 3), source, now, actor) for sha, s in seconds.items()])

        await self.db.write(op)

    async def audit(self, kind: str, *, actor: str, data: dict[str, Any]) -> None:
        """An audit event about lines that changes nothing else (a preview, an export)."""
        now = iso(self.clock())
        line = data.get("line")

        async def op(conn: aiosqlite.Connection) -> None:
            owner = await _owner(conn, line) if isinstance(line, int) else None
            await events.append(conn, None, kind, now, actor=actor, data=data,
                                municipality=owner)

        await self.db.write(op)

"""Retention in the store: clips a purge may look at, marking them purged, legal hold.

A clip is marked purged (with its event) *before* its files are removed: a
crash in between leaves a file to remove again, never a report pointing at
audio that is gone without a word in its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso
from ivr.store.transcripts import unindex_transcript


@dataclass(frozen=True, slots=True)
class ClipOnRecord:
    clip_id: int
    report_id: int
    take: int
    path: str  # relative to voiceclips
    playback_path: str | None
    recorded_at: datetime
    report_type: str
    state: str
    released_at: datetime | None
    keep_days: int | None = None  # the report's municipality keeps its clips at least this long


async def purge_candidates(
    db: Database, *, after: int = 0, limit: int = 1000
) -> list[ClipOnRecord]:
    """Clips that still have audio, of reports not on legal hold, a page at a time."""
    rows = await db.fetchall(
        "SELECT c.id, c.report_id, c.take, c.path, a.playback_path, c.created_at, r.type,"
        " r.state, r.clips_released_at, m.retention_days FROM clips c"
        " JOIN reports r ON r.id = c.report_id"
        " JOIN municipalities m ON m.id = r.municipality_id"
        " LEFT JOIN clip_audio a ON a.clip_id = c.id"
        " WHERE c.id > ? AND c.purged_at IS NULL AND r.legal_hold = 0 ORDER BY c.id LIMIT ?",
        (after, limit),
    )
    return [
        ClipOnRecord(
            row[0], row[1], row[2], row[3], row[4], datetime.fromisoformat(row[5]), row[6],
            row[7], datetime.fromisoformat(row[8]) if row[8] else None, row[9],
        )
        for row in rows
    ]


async def mark_purged(
    db: Database, clip: ClipOnRecord, rule: str, *, drop_transcript: bool, now: datetime
) -> bool:
    """Mark the clip purged with its event; False (nothing done) if the report went on hold."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> bool:
        cur = await conn.execute(
            "UPDATE clips SET purged_at = ? WHERE id = ? AND purged_at IS NULL"
            " AND (SELECT legal_hold FROM reports WHERE id = clips.report_id) = 0",
            (at, clip.clip_id),
        )
        if cur.rowcount != 1:
            return False
        await conn.execute(
            "UPDATE clip_audio SET playback_path = NULL, waveform = '[]' WHERE clip_id = ?",
            (clip.clip_id,),
        )
        await conn.execute(
            "UPDATE clip_jobs SET state = 'failed', error = 'the clip was purged',"
            " finished_at = ? WHERE clip_id = ? AND state IN ('queued', 'running')",
            (at, clip.clip_id),
        )
        if drop_transcript:
            await unindex_transcript(conn, clip.clip_id)
            await conn.execute("DELETE FROM transcripts WHERE clip_id = ?", (clip.clip_id,))
        await events.append(
            conn, clip.report_id, "clip.purged", at, actor="system",
            data={"clip": clip.clip_id, "take": clip.take, "path": clip.path, "rule": rule,
                  "transcript_removed": drop_transcript},
        )
        return True

    return await db.write(op)


async def recently_purged(db: Database, now: datetime, days: int = 7) -> list[tuple[str, str]]:
    """(clip path, derivative path or '') of clips purged lately: files a crash may have left."""
    rows = await db.fetchall(
        "SELECT c.path, coalesce(a.playback_path, '') FROM clips c"
        " LEFT JOIN clip_audio a ON a.clip_id = c.id WHERE c.purged_at >= ?",
        (iso(now - timedelta(days=days)),),
    )
    return [(row[0], row[1]) for row in rows]


async def set_legal_hold(
    db: Database, report: int, on: bool, *, actor: str, reason: str, now: datetime
) -> None:
    """Put a report's clips on legal hold (no purge touches them) or lift the hold."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> None:
        cur = await conn.execute(
            "UPDATE reports SET legal_hold = ?, updated_at = ? WHERE id = ?",
            (int(on), at, report),
        )
        if cur.rowcount != 1:
            raise LookupError(f"no report {report}")
        await events.append(conn, report, "report.legal_hold", at, actor=actor,
                            data={"on": on, "reason": reason})

    await db.write(op)


async def release_clips(db: Database, report: int, *, actor: str, now: datetime) -> None:
    """A supervisor's release: rules with ``until_released`` may now purge the clips."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> None:
        cur = await conn.execute(
            "UPDATE reports SET clips_released_at = ?, clips_released_by = ?, updated_at = ?"
            " WHERE id = ?",
            (at, actor, at, report),
        )
        if cur.rowcount != 1:
            raise LookupError(f"no report {report}")
        await events.append(conn, report, "report.clips_released", at, actor=actor)

    await db.write(op)

"""What the console reads about clips: transcripts, audio facts, jobs, the queue's state.

Writes live in ``ivr.store.transcripts``; these are reads on the read-only connection.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ivr.store.db import Database
from ivr.store.transcripts import KINDS


def _words(raw: str, low_below: float) -> list[dict[str, Any]]:
    return [
        {"word": w, "conf": c, "start": s, "end": e, "low": c < low_below}
        for w, c, s, e in json.loads(raw)
    ]


async def transcripts_of(db: Database, report: int, *, low_below: float) -> list[dict[str, Any]]:
    """The report's transcripts, newest take first; each word says whether it is doubtful."""
    rows = await db.fetchall(
        "SELECT t.*, c.take FROM transcripts t JOIN clips c ON c.id = t.clip_id"
        " WHERE t.report_id IN (?1, (SELECT handed_over_from FROM reports WHERE id = ?1"
        " AND handed_over_from IS NOT NULL)) ORDER BY c.take DESC",
        (report,),
    )
    return [_transcript(row, low_below) for row in rows]


def _transcript(row: sqlite3.Row, low_below: float) -> dict[str, Any]:
    return {
        "clip_id": row["clip_id"],
        "take": row["take"],
        "text": row["text"],
        "words": _words(row["words"], low_below),
        "confidence": row["confidence"],
        "model": row["model"],
        "language": row["language"],
        "keywords": json.loads(row["keywords"]),
        "audio_s": row["audio_s"],
        "created_at": row["created_at"],
    }


async def audio_of(db: Database, report: int) -> list[dict[str, Any]]:
    """Audio facts and the waveform of the report's clips, newest take first."""
    rows = await db.fetchall(
        "SELECT a.*, c.take, c.path AS original_path, c.purged_at FROM clip_audio a"
        " JOIN clips c ON c.id = a.clip_id WHERE c.report_id IN (?1,"
        " (SELECT handed_over_from FROM reports WHERE id = ?1 AND handed_over_from IS NOT NULL))"
        " ORDER BY c.take DESC",
        (report,),
    )
    out = []
    for row in rows:
        item = dict(row)
        item["waveform"] = json.loads(row["waveform"])
        out.append(item)
    return out


async def jobs_of(db: Database, report: int) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT j.id, j.clip_id, c.take, j.kind, j.state, j.attempts, j.error, j.created_at,"
        " j.finished_at FROM clip_jobs j JOIN clips c ON c.id = j.clip_id"
        " WHERE j.report_id = ? ORDER BY j.id",
        (report,),
    )
    return [dict(row) for row in rows]


async def queue_counts(db: Database) -> dict[str, dict[str, int]]:
    """{kind: {state: count}} over the whole queue (the console's status line)."""
    rows = await db.fetchall(
        "SELECT kind, state, count(*) AS n FROM clip_jobs GROUP BY kind, state"
    )
    out: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    for row in rows:
        out[row["kind"]][row["state"]] = row["n"]
    return out


async def backlog_counts(db: Database) -> dict[str, dict[str, int]]:
    """{kind: {state: count}} of jobs not done (queued, running, failed), for /metrics.

    Done jobs pile up forever; the index on (state, kind) lets this skip them.
    """
    rows = await db.fetchall(
        "SELECT kind, state, count(*) AS n FROM clip_jobs"
        " WHERE state IN ('queued', 'running', 'failed') GROUP BY kind, state"
    )
    out: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
    for row in rows:
        out[row["kind"]][row["state"]] = row["n"]
    return out


async def clip_files(db: Database, report: int, clip: int) -> dict[str, Any] | None:
    """A clip of ``report`` (never of another): its files and whether it was purged."""
    row = await db.fetchone(
        "SELECT c.id, c.path, c.purged_at, a.playback_path FROM clips c"
        " LEFT JOIN clip_audio a ON a.clip_id = c.id WHERE c.report_id IN (?1, (SELECT"
        " handed_over_from FROM reports WHERE id = ?1 AND handed_over_from IS NOT NULL))"
        " AND c.id = ?2",
        (report, clip),
    )
    return dict(row) if row else None

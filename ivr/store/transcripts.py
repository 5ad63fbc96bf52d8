"""The clip job queue (audio derivative, transcription), transcripts and audio facts.

Jobs are rows: the queue survives a restart. A worker claims a job with a lease
(``state = running``, ``claimed_at``, ``attempts + 1``); a lease older than the
time limit means the worker or the whole controller died, and the next claim
puts the job back in the queue, or fails it once ``max_tries`` is spent. Every
change is written with its event in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from ivr.domain.transcripts import AudioFacts, Transcript, raised_priority
from ivr.store import events
from ivr.store.db import Database
from ivr.store.reports import iso

AUDIO = "audio"
TRANSCRIBE = "transcribe"
KINDS = (AUDIO, TRANSCRIBE)

# Event kinds per job kind: started, done, retry, failed.
EVENTS = {
    AUDIO: ("clip.audio_started", "clip.audio_ready", "clip.audio_retry", "clip.audio_failed"),
    TRANSCRIBE: (
        "clip.transcription_started",
        "clip.transcribed",
        "clip.transcription_retry",
        "clip.transcription_failed",
    ),
}


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    clip_id: int
    report_id: int
    kind: str
    attempts: int  # including this one
    clip_path: str  # relative to the voiceclips folder
    take: int
    language: str | None
    report_type: str | None = None


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def _replacing(*columns: str) -> str:
    """A second run's result replaces the first's (the same on both engines)."""
    return " ON CONFLICT (clip_id) DO UPDATE SET " + ", ".join(
        f"{c} = excluded.{c}" for c in columns)


async def has_work(db: Database, kinds: Sequence[str], now: datetime, lease_s: float) -> bool:
    """Anything to claim? A cheap read, so waking on every commit costs no write."""
    expired = iso(now - timedelta(seconds=lease_s))
    row = await db.fetchone(
        f"SELECT 1 FROM clip_jobs WHERE kind IN ({_marks(kinds)}) AND (state = 'queued'"
        " OR (state = 'running' AND claimed_at < ?)) LIMIT 1",
        (*kinds, expired),
    )
    return row is not None


async def claim(
    db: Database,
    *,
    kinds: Sequence[str],
    owner: str,
    now: datetime,
    lease_s: float,
    max_tries: int,
    limit: int,
) -> list[Job]:
    """Take up to ``limit`` queued jobs, oldest first, after re-queueing expired leases."""
    at = iso(now)
    expired = iso(now - timedelta(seconds=lease_s))

    async def op(conn: aiosqlite.Connection) -> list[Job]:
        await _expire_leases(conn, kinds, expired, at, max_tries)
        rows = await conn.execute_fetchall(
            "SELECT j.id, j.clip_id, j.report_id, j.kind, j.attempts, c.path, c.take, r.language,"
            " r.type"
            " FROM clip_jobs j JOIN clips c ON c.id = j.clip_id"
            " JOIN reports r ON r.id = j.report_id"
            f" WHERE j.state = 'queued' AND j.kind IN ({_marks(kinds)}) ORDER BY j.id LIMIT ?"
            + db.claim_lock,
            (*kinds, limit),
        )
        jobs = []
        for row in rows:
            await conn.execute(
                "UPDATE clip_jobs SET state = 'running', attempts = attempts + 1, claimed_at = ?,"
                " claimed_by = ? WHERE id = ?",
                (at, owner, row[0]),
            )
            job = Job(row[0], row[1], row[2], row[3], row[4] + 1, row[5], row[6], row[7], row[8])
            await events.append(
                conn, job.report_id, EVENTS[job.kind][0], at, actor="system",
                data={"clip": job.clip_id, "take": job.take, "attempt": job.attempts},
            )
            jobs.append(job)
        return jobs

    return await db.write(op)


async def _expire_leases(
    conn: aiosqlite.Connection, kinds: Sequence[str], expired: str, at: str, max_tries: int
) -> None:
    rows = await conn.execute_fetchall(
        "SELECT id, clip_id, report_id, kind, attempts, claimed_by FROM clip_jobs"
        f" WHERE state = 'running' AND claimed_at < ? AND kind IN ({_marks(kinds)})",
        (expired, *kinds),
    )
    for job_id, clip_id, report_id, kind, attempts, owner in rows:
        reason = f"no answer from the worker in time (lease of {owner} expired)"
        await _settle_failure(conn, job_id, clip_id, report_id, kind, attempts, reason,
                              final=attempts >= max_tries, at=at)


async def _settle_failure(
    conn: aiosqlite.Connection, job_id: int, clip_id: int, report_id: int, kind: str,
    attempts: int, reason: str, *, final: bool, at: str,
) -> None:
    _started, _done, retry, failed = EVENTS[kind]
    if final:
        await conn.execute(
            "UPDATE clip_jobs SET state = 'failed', error = ?, finished_at = ?, claimed_at = NULL"
            " WHERE id = ?",
            (reason, at, job_id),
        )
    else:
        await conn.execute(
            "UPDATE clip_jobs SET state = 'queued', error = ?, claimed_at = NULL,"
            " claimed_by = NULL WHERE id = ?",
            (reason, job_id),
        )
    await events.append(
        conn, report_id, failed if final else retry, at, actor="system",
        data={"clip": clip_id, "attempts": attempts, "reason": reason},
    )


async def fail(
    db: Database, job: Job, reason: str, *, permanent: bool, max_tries: int, now: datetime
) -> bool:
    """Record a failed attempt; True when the job is now failed for good."""
    at = iso(now)
    final = permanent or job.attempts >= max_tries

    async def op(conn: aiosqlite.Connection) -> None:
        await _settle_failure(conn, job.id, job.clip_id, job.report_id, job.kind, job.attempts,
                              reason, final=final, at=at)

    await db.write(op)
    return final


async def release_owner(db: Database, owner: str, now: datetime) -> int:
    """Give back every job ``owner`` still holds (a clean shutdown): no try is counted."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> int:
        rows = list(await conn.execute_fetchall(
            "SELECT id, clip_id, report_id, kind, attempts FROM clip_jobs"
            " WHERE state = 'running' AND claimed_by = ?",
            (owner,),
        ))
        for job_id, clip_id, report_id, kind, attempts in rows:
            await conn.execute(
                "UPDATE clip_jobs SET state = 'queued', attempts = max(0, attempts - 1),"
                " claimed_at = NULL, claimed_by = NULL WHERE id = ?",
                (job_id,),
            )
            await events.append(
                conn, report_id, EVENTS[kind][2], at, actor="system",
                data={"clip": clip_id, "attempts": max(0, attempts - 1),
                      "reason": "the controller stopped; the job waits for the next start"},
            )
        return len(rows)

    return await db.write(op)


async def _done(conn: aiosqlite.Connection, job: Job, at: str) -> None:
    cur = await conn.execute(
        "UPDATE clip_jobs SET state = 'done', error = NULL, finished_at = ?, claimed_at = NULL"
        " WHERE id = ? AND state = 'running'",
        (at, job.id),
    )
    if cur.rowcount != 1:
        # Our lease expired and someone else took the job: keep their result, drop ours.
        raise LookupError(f"job {job.id} is no longer ours")


async def finish_audio(db: Database, job: Job, facts: AudioFacts, now: datetime) -> None:
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> None:
        await _done(conn, job, at)
        await conn.execute(
            "INSERT INTO clip_audio (clip_id, duration_s, peak_dbfs, loudness_dbfs,"
            " silence_share, playback_path, playback_s, lead_trim_s, gain_db, waveform, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + _replacing(
                "duration_s", "peak_dbfs", "loudness_dbfs", "silence_share", "playback_path",
                "playback_s", "lead_trim_s", "gain_db", "waveform", "created_at"),
            (job.clip_id, facts.duration_s, facts.peak_dbfs, facts.loudness_dbfs,
             facts.silence_share, facts.playback_path, facts.playback_s, facts.lead_trim_s,
             facts.gain_db, json.dumps(list(facts.waveform)), at),
        )
        await events.append(
            conn, job.report_id, EVENTS[AUDIO][1], at, actor="system",
            data={"clip": job.clip_id, "seconds": facts.duration_s, "peak_dbfs": facts.peak_dbfs,
                  "silence_share": facts.silence_share},
        )

    await db.write(op)


async def finish_transcript(
    db: Database,
    job: Job,
    transcript: Transcript,
    now: datetime,
    *,
    hits: Sequence[str] = (),
    alert_priority: int = 1,
) -> None:
    """Store the transcript, index it for search and raise a keyword alert if words were heard.

    The event carries counts, not the text: the event log is append-only, and a
    transcript must be removable with its clip.
    """
    at = iso(now)
    words = [[w.text, round(w.conf, 3), round(w.start, 2), round(w.end, 2)]
             for w in transcript.words]

    async def op(conn: aiosqlite.Connection) -> None:
        await _done(conn, job, at)
        await conn.execute(
            "INSERT INTO transcripts (clip_id, report_id, text, words, confidence,"
            " model, language, keywords, audio_s, cpu_s, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" + _replacing(
                "report_id", "text", "words", "confidence", "model", "language", "keywords",
                "audio_s", "cpu_s", "created_at"),
            (job.clip_id, job.report_id, transcript.text, json.dumps(words, ensure_ascii=False),
             transcript.confidence, transcript.model, job.language,
             json.dumps(list(hits), ensure_ascii=False), round(transcript.audio_s, 3),
             round(transcript.cpu_s, 3), at),
        )
        await unindex_transcript(conn, job.clip_id)  # a second run replaces the first
        if transcript.text:
            await conn.execute(
                "INSERT INTO report_text (body, report_id, source) VALUES (?, ?, 'transcript')",
                (transcript.text, job.report_id),
            )
        await events.append(
            conn, job.report_id, EVENTS[TRANSCRIBE][1], at, actor="system",
            data={"clip": job.clip_id, "take": job.take, "words": len(words),
                  "confidence": transcript.confidence, "model": transcript.model,
                  "keywords": list(hits)},
        )
        if hits:
            await _keyword_alert(conn, job, list(hits), alert_priority, at)

    await db.write(op)


async def unindex_transcript(conn: aiosqlite.Connection, clip_id: int) -> None:
    """Take a clip's transcript out of the search index (before replacing or purging it)."""
    rows = list(await conn.execute_fetchall(
        "SELECT report_id, text FROM transcripts WHERE clip_id = ?", (clip_id,)
    ))
    for report_id, text in rows:
        await conn.execute(
            "DELETE FROM report_text WHERE rowid = (SELECT rowid FROM report_text"
            " WHERE report_id = ? AND source = 'transcript' AND body = ? LIMIT 1)",
            (report_id, text),
        )


async def _keyword_alert(
    conn: aiosqlite.Connection, job: Job, hits: list[str], alert_priority: int, at: str
) -> None:
    rows = await conn.execute_fetchall("SELECT priority FROM reports WHERE id = ?",
                                       (job.report_id,))
    before = int(next(iter(rows))[0])
    after = raised_priority(before, alert_priority)
    await conn.execute(
        "UPDATE reports SET flagged = 1, priority = ?, updated_at = ? WHERE id = ?",
        (after, at, job.report_id),
    )
    await events.append(
        conn, job.report_id, "report.keyword_alert", at, actor="system",
        data={"clip": job.clip_id, "keywords": hits, "priority_from": before,
              "priority_to": after},
    )


async def requeue(db: Database, clip_id: int, kind: str, now: datetime, actor: str) -> None:
    """Put a failed or finished job back in the queue (an admin fixed the model, say)."""
    at = iso(now)

    async def op(conn: aiosqlite.Connection) -> None:
        rows = await conn.execute_fetchall(
            "SELECT c.report_id FROM clips c WHERE c.id = ? AND c.purged_at IS NULL", (clip_id,)
        )
        if not rows:
            raise LookupError(f"no clip {clip_id} with audio")
        report_id = int(next(iter(rows))[0])
        await conn.execute(
            "INSERT INTO clip_jobs (clip_id, report_id, kind, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (clip_id, kind) DO UPDATE SET state = 'queued', attempts = 0,"
            " error = NULL, claimed_at = NULL, claimed_by = NULL, finished_at = NULL",
            (clip_id, report_id, kind, at),
        )
        await events.append(conn, report_id, "clip.queued", at, actor=actor,
                            data={"clip": clip_id, "kind": kind})

    await db.write(op)


async def sweep_unqueued(db: Database, now: datetime, grace: timedelta) -> int:
    """Queue clips that have no jobs: their call ended, or the report is older than ``grace``.

    A controller that crashed mid-call never wrote 'call.ended'; its clips are
    found here instead of waiting for ever.
    """
    at = iso(now)
    cutoff = iso(now - grace)

    async def op(conn: aiosqlite.Connection) -> int:
        rows = list(await conn.execute_fetchall(
            "SELECT c.id, c.report_id, c.take FROM clips c JOIN reports r ON r.id = c.report_id"
            " WHERE c.purged_at IS NULL AND NOT EXISTS (SELECT 1 FROM clip_jobs j"
            " WHERE j.clip_id = c.id) AND (r.call_ended_at IS NOT NULL OR r.created_at < ?)",
            (cutoff,),
        ))
        for clip_id, report_id, take in rows:
            for kind in KINDS:
                await conn.execute(
                    "INSERT OR IGNORE INTO clip_jobs (clip_id, report_id, kind, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (clip_id, report_id, kind, at),
                )
            await events.append(conn, report_id, "clip.queued", at, actor="system",
                                data={"clip": clip_id, "take": take})
        return len(rows)

    return await db.write(op)

"""The clip job queue: queued when the call ends, leases, retries, and failures that say why.

Store-level tests drive ``ivr.store.transcripts`` with an explicit clock; the
service tests run real worker processes (killed, hung, fed a corrupt file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.app import Services, services
from ivr.clips.service import ClipService, jobs_config, transcription_off_reason
from ivr.config import Settings
from ivr.store import clip_views as views
from ivr.store import transcripts as queue
from tests.clips_support import (
    FIXTURES,
    clip_file,
    kinds_of_events,
    report_with_clip,
    settled,
    until,
    with_model,
)

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
SPEECH = FIXTURES / "ko_fire_danger.wav"


# --- queued with the end of the call ---------------------------------------------------


async def test_ending_the_call_queues_its_clip_in_the_same_transaction(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, end_call=False)
    assert await views.jobs_of(svc.db, report) == []  # the caller may still record again
    await svc.reports.close_call(report, complete=True, outcome="completed", last_step="readback")
    jobs = await views.jobs_of(svc.db, report)
    assert [(j["kind"], j["state"], j["attempts"]) for j in jobs] == [
        ("audio", "queued", 0), ("transcribe", "queued", 0)
    ]
    kinds = await kinds_of_events(svc, report)
    assert kinds[-2:] == ["call.ended", "clip.queued"]


async def test_a_clip_attached_after_the_call_ended_is_queued_too(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    await svc.db.write(lambda conn: conn.execute("DELETE FROM clip_jobs"))
    await svc.reports.close_call(report, complete=True, outcome="completed", last_step="x")
    assert len(await views.jobs_of(svc.db, report)) == 2


async def test_the_sweep_queues_clips_of_a_call_that_never_ended(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH, end_call=False)
    assert await queue.sweep_unqueued(svc.db, datetime.now(UTC), timedelta(hours=1)) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await queue.sweep_unqueued(svc.db, later, timedelta(hours=1)) == 1
    assert len(await views.jobs_of(svc.db, report)) == 2
    assert await queue.sweep_unqueued(svc.db, later, timedelta(hours=1)) == 0


# --- leases and tries (store level, explicit clock) ---------------------------------------


async def claim(svc: Services, now: datetime, owner: str = "a", max_tries: int = 3,
                limit: int = 10) -> list[queue.Job]:
    return await queue.claim(svc.db, kinds=queue.KINDS, owner=owner, now=now, lease_s=60,
                             max_tries=max_tries, limit=limit)


async def test_a_claim_is_a_lease_and_counts_a_try(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    jobs = await claim(svc, T0, limit=1)
    assert [(j.kind, j.attempts, j.language) for j in jobs] == [("audio", 1, "es")]
    assert jobs[0].clip_path.endswith(f"-r{report}-t1.wav") and jobs[0].report_id == report
    assert [j.kind for j in await claim(svc, T0)] == ["transcribe"]
    assert await claim(svc, T0 + timedelta(seconds=59)) == []  # leases still held


async def test_an_expired_lease_goes_back_to_the_queue_then_fails_after_max_tries(
    svc: Services,
) -> None:
    report = await report_with_clip(svc, SPEECH)
    now = T0
    for attempt in (1, 2):
        jobs = await claim(svc, now, owner=f"dead-{attempt}", max_tries=2)
        assert {j.attempts for j in jobs} == {attempt}
        now += timedelta(seconds=61)
    assert await claim(svc, now, max_tries=2) == []
    jobs = await views.jobs_of(svc.db, report)
    assert {j["state"] for j in jobs} == {"failed"}
    assert "lease of dead-2 expired" in jobs[0]["error"]
    kinds = await kinds_of_events(svc, report)
    assert kinds.count("clip.transcription_retry") == 1
    assert kinds.count("clip.transcription_failed") == 1


async def test_a_permanent_failure_is_not_retried(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    (job,) = await claim(svc, T0, limit=1)
    assert await queue.fail(svc.db, job, "not audio", permanent=True, max_tries=3, now=T0)
    (row, _) = await views.jobs_of(svc.db, report)
    assert row["state"] == "failed" and row["error"] == "not audio"


async def test_a_transient_failure_is_retried(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    (job,) = await claim(svc, T0, limit=1)
    assert not await queue.fail(svc.db, job, "oops", permanent=False, max_tries=3, now=T0)
    (row, _) = await views.jobs_of(svc.db, report)
    assert row["state"] == "queued" and row["attempts"] == 1 and row["error"] == "oops"


async def test_a_clean_shutdown_gives_jobs_back_without_counting_a_try(svc: Services) -> None:
    report = await report_with_clip(svc, SPEECH)
    await claim(svc, T0, owner="me")
    assert await queue.release_owner(svc.db, "me", T0) == 2
    rows = await views.jobs_of(svc.db, report)
    assert [(r["state"], r["attempts"]) for r in rows] == [("queued", 0), ("queued", 0)]


async def test_queue_counts(svc: Services) -> None:
    await report_with_clip(svc, SPEECH)
    await claim(svc, T0, limit=1)
    assert await views.queue_counts(svc.db) == {
        "audio": {"running": 1}, "transcribe": {"queued": 1}
    }


# --- the service with real worker processes -------------------------------------------------


@pytest.fixture
async def audio_only(settings: Settings) -> AsyncIterator[Services]:
    """No model configured: only audio derivatives are made."""
    async with services(settings, clip_jobs=True) as opened:
        yield opened


async def test_without_a_model_transcription_is_off_and_nothing_fails(
    audio_only: Services, settings: Settings
) -> None:
    assert transcription_off_reason(settings) == "no model configured (set ALERTA_VOSK_MODEL)"
    assert audio_only.clip_jobs is not None
    status = audio_only.clip_jobs.status()
    assert status["transcription"] is False and "no model" in status["off_reason"]
    report = await report_with_clip(audio_only, SPEECH)
    jobs = await settled(audio_only, report, kinds=("audio",))
    assert jobs["audio"]["state"] == "done"
    assert jobs["transcribe"]["state"] == "queued"  # waits for a model; not failed
    assert (await views.audio_of(audio_only.db, report))[0]["playback_path"]


async def test_a_hung_job_is_killed_at_its_deadline_and_fails_after_its_tries(
    settings: Settings,
) -> None:
    quick = dataclasses.replace(settings, transcribe_timeout_s=0.5, transcribe_max_tries=2)
    async with services(quick, clip_jobs=True) as svc:
        report = await report_with_clip(svc, SPEECH, end_call=False)
        stuck = await clip_file(svc, report)
        stuck.unlink()
        os.mkfifo(stuck)  # opening it blocks for ever: the worker hangs
        await svc.reports.close_call(report, complete=True, outcome="completed", last_step="x")
        jobs = await settled(svc, report, kinds=("audio",))
        assert jobs["audio"]["state"] == "failed" and jobs["audio"]["attempts"] == 2
        assert jobs["audio"]["error"] == "no result within 0.5 s; the worker was killed"
        # The queue is not stuck: the next clip is processed.
        good = await report_with_clip(svc, SPEECH)
        assert (await settled(svc, good, kinds=("audio",)))["audio"]["state"] == "done"
        assert svc.clip_jobs is not None and svc.clip_jobs.pool.started >= 3


async def test_a_corrupt_wav_fails_once_with_a_clear_reason(
    settings: Settings, tmp_path: Path
) -> None:
    async with services(with_model(settings, tmp_path), clip_jobs=True) as svc:
        report = await report_with_clip(svc, SPEECH, end_call=False)
        (await clip_file(svc, report)).write_bytes(b"RIFF\x00\x00garbage")  # rotted on disk
        await svc.reports.close_call(report, complete=True, outcome="completed", last_step="x")
        jobs = await settled(svc, report)
        for kind in ("audio", "transcribe"):
            assert jobs[kind]["state"] == "failed" and jobs[kind]["attempts"] == 1
            assert "not a readable WAV" in jobs[kind]["error"]
        failed = [e for e in await svc.reports.history(report)
                  if e["kind"] == "clip.transcription_failed"]
        assert "not a readable WAV" in json.loads(failed[0]["data"])["reason"]
        good = await report_with_clip(svc, SPEECH)
        assert {j["state"] for j in (await settled(svc, good)).values()} == {"done"}


async def test_a_worker_killed_mid_job_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    async with services(with_model(settings, tmp_path), clip_jobs=True) as svc:
        service = svc.clip_jobs
        assert service is not None
        report = await report_with_clip(svc, SPEECH)

        async def transcribing() -> bool:  # the job has started: the worker loads the model
            jobs = await views.jobs_of(svc.db, report)
            return bool(service.pool.busy_pids()) and any(
                j["kind"] == "transcribe" and j["state"] == "running" for j in jobs
            )

        await until(transcribing)
        (pid,) = service.pool.busy_pids()
        os.kill(pid, signal.SIGKILL)
        jobs = await settled(svc, report)
        assert jobs["transcribe"]["state"] == "done" and jobs["transcribe"]["attempts"] == 2
        retries = [json.loads(e["data"]) for e in await svc.reports.history(report)
                   if e["kind"] == "clip.transcription_retry"]
        assert retries == [{"clip": 1, "attempts": 1,
                            "reason": "the worker process died mid-job (exit code -9)"}]
        (transcript,) = await views.transcripts_of(svc.db, report, low_below=0.6)
        assert transcript["text"] == "화재 위험"


async def test_a_job_left_running_by_a_dead_controller_completes_after_restart(
    settings: Settings, tmp_path: Path, svc: Services
) -> None:
    report = await report_with_clip(svc, SPEECH)
    config = jobs_config(with_model(settings, tmp_path))
    # The controller that claimed these died: its rows stay 'running' with a lease.
    dead = await queue.claim(svc.db, kinds=queue.KINDS, owner="host:999:dead", now=T0,
                             lease_s=config.lease_s, max_tries=3, limit=2)
    assert len(dead) == 2
    restarted = ClipService(config, svc.db, clock=lambda: T0 + timedelta(
        seconds=config.lease_s + 1))
    await restarted.start()
    try:
        jobs = await settled(svc, report)
    finally:
        await restarted.stop()
    assert {(j["state"], j["attempts"]) for j in jobs.values()} == {("done", 2)}
    history = [e for e in await svc.reports.history(report) if e["kind"].endswith("_retry")]
    assert len(history) == 2 and "host:999:dead" in history[0]["data"]


async def test_stopping_mid_job_hands_the_job_back(settings: Settings, tmp_path: Path) -> None:
    async with services(with_model(settings, tmp_path)) as svc:
        report = await report_with_clip(svc, SPEECH)
        service = await ClipService(jobs_config(with_model(settings, tmp_path)), svc.db).start()

        async def busy() -> bool:
            return bool(service.pool.busy_pids())

        await until(busy)
        await service.stop()
        jobs = await views.jobs_of(svc.db, report)
        assert {j["state"] for j in jobs} <= {"queued", "done"}
        assert all(j["attempts"] == 0 for j in jobs if j["state"] == "queued")
        assert any(j["state"] == "queued" for j in jobs)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_stopping_leaves_no_worker_process_and_no_task(settings: Settings) -> None:
    baseline = len(asyncio.all_tasks())
    started: list[int] = []
    for _ in range(3):
        async with services(settings, clip_jobs=True) as svc:
            assert svc.clip_jobs is not None
            started += svc.clip_jobs.pool.pids()
    assert len(started) == 3
    assert not [pid for pid in started if alive(pid)]  # exited and reaped (no zombie)
    assert len(asyncio.all_tasks()) == baseline

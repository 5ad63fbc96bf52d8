"""The clip job service: takes jobs from the queue in the database, runs them in workers.

The queue is the ``clip_jobs`` table (``ivr.store.transcripts``): a call that
ends queues its clips in the same transaction. This service wakes on every
commit of this process (and polls for other processes' writes), claims jobs
with a lease, hands them to the worker pool and stores each result with its
event. The event loop only awaits: vosk and pydub run in the workers.

With no model configured, audio derivatives are still made; transcription
jobs wait in the queue and the console says transcription is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.clips.retention import purge_daily
from ivr.clips.transcribe import check_model, read_grammar
from ivr.clips.worker import JobError, WorkerPool
from ivr.config import Settings
from ivr.domain.municipalities import municipality_of
from ivr.domain.retention import RetentionRule
from ivr.domain.transcripts import AudioFacts, Transcript, keyword_hits, keywords_for
from ivr.store import transcripts as queue
from ivr.store.db import Database
from ivr.store.reports import utc_now

logger = logging.getLogger(__name__)

LEASE_MARGIN_S = 60.0  # beyond the job's time limit, before another process may take it over
POLL_S = 2.0  # for jobs queued by other processes (their commits do not wake us)
COALESCE_S = 0.05  # a burst of commits (a busy line) costs one look at the queue, not one each
SWEEP_S = 300.0
SWEEP_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class ClipJobsConfig:
    voiceclips: Path
    model: Path | None  # None: transcription is off
    off_reason: str | None  # why, in words, for the console
    grammar: tuple[str, ...] = ()
    workers: int = 1
    timeout_s: float = 300.0
    max_tries: int = 3
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    alert_priority: int = 1
    low_confidence: float = 0.6
    retention: tuple[RetentionRule, ...] = ()  # none: no daily purge

    @property
    def lease_s(self) -> float:
        return self.timeout_s + LEASE_MARGIN_S

    @property
    def kinds(self) -> tuple[str, ...]:
        return queue.KINDS if self.model is not None else (queue.AUDIO,)


def transcription_off_reason(settings: Settings) -> str | None:
    """Why transcription is off with these settings, or None when it is on."""
    return check_model(settings.vosk_model)


def jobs_config(settings: Settings) -> ClipJobsConfig:
    reason = transcription_off_reason(settings)
    grammar: tuple[str, ...] = ()
    if reason is None and str(settings.vosk_grammar) not in ("", "."):
        try:
            grammar = read_grammar(settings.vosk_grammar)
        except OSError as exc:
            reason = f"cannot read the grammar file {settings.vosk_grammar}: {exc}"
    return ClipJobsConfig(
        voiceclips=settings.voiceclips.resolve(),
        model=settings.vosk_model.resolve() if reason is None else None,
        off_reason=reason,
        grammar=grammar,
        workers=settings.transcribe_workers,
        timeout_s=settings.transcribe_timeout_s,
        max_tries=settings.transcribe_max_tries,
        keywords=settings.keyword_lists(),
        alert_priority=settings.keyword_priority,
        low_confidence=settings.transcript_low_confidence,
        retention=settings.retention,
    )


# (incident type, language) → the alert words admins gave that type in the lines.
TypeWords = Callable[[str | None, str | None, int], Awaitable[tuple[str, ...]]]


class ClipService:
    def __init__(
        self,
        config: ClipJobsConfig,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        type_words: TypeWords | None = None,
    ) -> None:
        self.config = config
        self.type_words = type_words  # the lines' alert words of a report's incident type
        self.db = db
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.pool = WorkerPool(config.workers, config.timeout_s)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._jobs: dict[asyncio.Task[None], queue.Job] = {}
        self._stopping = False
        self.done = 0
        self.failed = 0

    # --- life ---------------------------------------------------------------------

    async def start(self) -> ClipService:
        if self.config.off_reason:
            logger.warning("transcription is off: %s", self.config.off_reason)
        await self.pool.start()
        self.db.on_commit.append(self._wake.set)
        self._loop_task = asyncio.create_task(self._run(), name="alerta-clip-jobs")
        if self.config.retention:
            self._purge_task = asyncio.create_task(
                purge_daily(self.db, self.config.voiceclips, self.config.retention, self.clock),
                name="alerta-clip-purge",
            )
        return self

    async def stop(self) -> None:
        """Stop taking jobs; jobs cut short go back to the queue without counting a try."""
        self._stopping = True
        with contextlib.suppress(ValueError):
            self.db.on_commit.remove(self._wake.set)
        for task in (self._purge_task, self._loop_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._loop_task = self._purge_task = None
        await self.pool.close()
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)
        released = await queue.release_owner(self.db, self.owner, self.clock())
        if released:
            logger.info("clip jobs: %d job(s) cut short go back to the queue", released)

    def workers_alive(self) -> tuple[int, int]:
        """(worker processes running, workers wanted); (0, n) once the job loop has stopped."""
        task = self._loop_task
        if task is None or task.done():
            return 0, self.pool.size
        return self.pool.alive(), self.pool.size

    def status(self) -> dict[str, Any]:
        return {
            "transcription": self.config.model is not None,
            "off_reason": self.config.off_reason,
            "model": str(self.config.model) if self.config.model else None,
            "workers": self.pool.size,
            "running": len(self._jobs),
        }

    # --- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        last_sweep = -SWEEP_S
        while True:
            self._wake.clear()
            try:
                if time.monotonic() - last_sweep >= SWEEP_S:
                    last_sweep = time.monotonic()
                    swept = await queue.sweep_unqueued(self.db, self.clock(), SWEEP_GRACE)
                    if swept:
                        logger.info("queued %d clip(s) that had no jobs", swept)
                await self._claim()
            except Exception:  # the store may be briefly unwritable; try again later
                logger.exception("clip jobs: claiming failed")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
            # as the event is set, and the task then never stops (a hang at shutdown)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._wake.wait()
            await asyncio.sleep(COALESCE_S)

    async def _claim(self) -> None:
        free = self.pool.size - len(self._jobs)
        config = self.config
        if free <= 0 or not await queue.has_work(self.db, config.kinds, self.clock(),
                                                 config.lease_s):
            return
        jobs = await queue.claim(
            self.db, kinds=config.kinds, owner=self.owner, now=self.clock(),
            lease_s=config.lease_s, max_tries=config.max_tries, limit=free,
        )
        for job in jobs:
            task = asyncio.create_task(self._do(job), name=f"alerta-clip-job-{job.id}")
            self._jobs[task] = job
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._jobs.pop(task, None)
        self._wake.set()

    async def _do(self, job: queue.Job) -> None:
        try:
            if job.kind == queue.AUDIO:
                facts: AudioFacts = await self.pool.run(
                    "audio", root=str(self.config.voiceclips), clip=job.clip_path
                )
                await queue.finish_audio(self.db, job, facts, self.clock())
            else:
                await self._transcribe(job)
            self.done += 1
        except JobError as exc:
            await self._failed(job, exc)
        except LookupError as exc:  # our lease ran out and another process took over
            logger.warning("clip job %d: result dropped: %s", job.id, exc)
        except Exception:
            logger.exception("clip job %d: could not store the result", job.id)

    async def _transcribe(self, job: queue.Job) -> None:
        config = self.config
        assert config.model is not None
        transcript: Transcript = await self.pool.run(
            "transcribe", path=str(config.voiceclips / job.clip_path), model=str(config.model),
            grammar=config.grammar,
        )
        words = [w.text for w in transcript.words]
        listen_for = keywords_for(job.language, config.keywords)
        if self.type_words is not None:
            extra = await self.type_words(job.report_type, job.language,
                                          municipality_of(job.report_id))
            listen_for = (*listen_for, *(w for w in extra if w not in listen_for))
        hits = keyword_hits(words, listen_for)
        await queue.finish_transcript(self.db, job, transcript, self.clock(), hits=hits,
                                      alert_priority=config.alert_priority)
        if hits:
            logger.warning("report %d: alert words heard: %s", job.report_id, ", ".join(hits))

    async def _failed(self, job: queue.Job, exc: JobError) -> None:
        if self._stopping and not exc.permanent:
            return  # cut short by stop(), which gives the job back
        final = await queue.fail(self.db, job, exc.reason, permanent=exc.permanent,
                                 max_tries=self.config.max_tries, now=self.clock())
        if final:
            self.failed += 1
        logger.warning("clip job %d (%s, report %d, try %d): %s%s", job.id, job.kind,
                       job.report_id, job.attempts, exc.reason,
                       "; failed for good" if final else "; will retry")

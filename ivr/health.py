"""What is wrong, in a few words: the checks behind ``/healthz``.

Each check answers ok or not with a short reason. The answer is read by anyone
who can reach the console (no login), so a reason never holds a path, a host,
a user name or anything from a report: only fixed words and numbers.

- ``database``: a write that leaves no trace goes through the writer within
  ``health_db_wait_s``. Only one is in flight at a time: while the database is
  locked, repeated checks wait on the same write instead of queueing more.
- ``disk``: free space on the clips' and the database's filesystems, each
  against ``min_free_mb``.
- ``ami``: the callback link is up (or turned off on purpose); down is not ok.
- ``workers``: every clip worker process is running (where this process runs them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.metrics import disk_free_bytes
from ivr.settings_sections import HealthSection
from ivr.store.db import Database

logger = logging.getLogger(__name__)

MB = 1024 * 1024
AMI_OK = ("up", "disabled", "connecting")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class WorkerStatus(Protocol):
    def workers_alive(self) -> tuple[int, int]:
        """(running, wanted)."""


def store_failure(exc: BaseException) -> str:
    """A store error in fixed words (SQLite's own text can name files)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked by another connection"
    if "full" in text:
        return "disk full"
    if "closed" in text:
        return "the store is closed"
    if "readonly" in text or "read-only" in text:
        return "read-only"
    return "write failed (see the log)"


class Health:
    def __init__(
        self,
        settings: HealthSection,
        db: Database,
        *,
        ami_state: Callable[[], str] = lambda: "disabled",
        workers: WorkerStatus | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._ami_state = ami_state
        self._workers = workers
        self._probe: asyncio.Future[None] | None = None
        self._probe_started = 0.0

    async def run(self) -> list[Check]:
        checks = [await self.database(), self.disk(), self.ami()]
        if self._workers is not None:
            checks.append(self.workers())
        return checks

    async def database(self) -> Check:
        wait_s = self._settings.db_wait_s
        probe = self._probe
        if probe is None or probe.done():
            probe = self._probe = asyncio.ensure_future(self._db.check_writable())
            probe.add_done_callback(_retrieve)  # a late failure is read, never left unread
            self._probe_started = time.monotonic()
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(probe)
        except TimeoutError:
            waited = time.monotonic() - self._probe_started
            logger.warning("health: a test write has waited %.1f s for the database", waited)
            return Check("database", False,
                         f"a test write has waited {waited:.0f} s (locked or overloaded)")
        except Exception as exc:
            logger.warning("health: the test write failed: %r", exc)
            return Check("database", False, store_failure(exc))
        return Check("database", True, "writable")

    def disk(self) -> Check:
        need_mb = self._settings.min_free_mb
        short: list[str] = []
        seen: dict[int, str] = {}
        lowest: float | None = None
        folders = [("clips", self._settings.voiceclips)]
        if isinstance(self._settings.database, Path):  # PostgreSQL's disk is its server's
            folders.append(("database", self._settings.database.parent))
        for name, folder in folders:
            try:
                free, device = disk_free_bytes(folder)
            except OSError as exc:
                logger.warning("health: cannot measure the %s disk: %r", name, exc)
                short.append(f"{name}: cannot measure")
                continue
            if device in seen:
                continue  # one filesystem: one figure
            seen[device] = name
            free_mb = free / MB
            lowest = free_mb if lowest is None else min(lowest, free_mb)
            if free_mb < need_mb:
                short.append(f"{name}: {free_mb:.0f} MB free, {need_mb} MB needed")
        if short:
            return Check("disk", False, "; ".join(short))
        return Check("disk", True, f"at least {lowest or 0:.0f} MB free")

    def ami(self) -> Check:
        state = self._ami_state()
        return Check("ami", state in AMI_OK, state)

    def workers(self) -> Check:
        assert self._workers is not None
        alive, wanted = self._workers.workers_alive()
        return Check("workers", alive >= wanted, f"{alive} of {wanted} clip workers running")


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()



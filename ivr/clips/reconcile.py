"""At start-up: attach or quarantine every clip a crash left behind. Never delete.

Start-up never fails because of a clip. What the clip disk refuses (a full
disk: no room for a folder, a quarantine note or a day folder) is left exactly
where it is, with a log line and an alert for the command centre; a retry task
in the running controller tries those same files again every ``retry_s`` until
they are done. The retry only ever touches what the start-up pass found: a
recording a live call is making meanwhile is never the reconciler's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ivr.clips.vault import NAME, ClipVault, inspect_wav
from ivr.domain.clips import ClipInfo, ClipInvalid
from ivr.store.alerts import raise_alert
from ivr.store.db import Database
from ivr.store.reports import Reports, clip_paths_since, clip_taken, report_exists, utc_now

logger = logging.getLogger(__name__)

RECENT_DAYS = 3  # a crash between rename and attach can only strand clips of recent days
ALERT_KIND = "alert.clip_waiting"


@dataclass
class ReconcileResult:
    attached: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # left in place for the retry


@dataclass
class _Pending:
    folders: bool = False  # prepare() was refused
    leftovers: list[Path] = field(default_factory=list)  # files in incoming
    stranded: list[Path] = field(default_factory=list)  # renamed into place, never attached

    def __bool__(self) -> bool:
        return self.folders or bool(self.leftovers) or bool(self.stranded)


class Reconciler:
    """The start-up pass over leftovers, and the retry of what it could not do."""

    def __init__(
        self,
        vault: ClipVault,
        db: Database,
        reports: Reports,
        *,
        retry_s: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.vault = vault
        self.db = db
        self.reports = reports
        self.retry_s = retry_s
        self.clock = clock
        self.result = ReconcileResult()
        self.done = asyncio.Event()  # set once nothing waits any more
        self.retries = 0
        self._pending = _Pending()
        self._alerted: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self, folders_refused: list[str]) -> ReconcileResult:
        """Run the start-up pass; never raises for a clip. Starts the retry task if needed."""
        if folders_refused:
            self._pending.folders = True
            await self._waiting("voiceclips folders", None, "; ".join(folders_refused))
        try:
            found = self.vault.incoming_files()
        except OSError as exc:
            found = []
            logger.error("reconciler: cannot read %s: %s", self.vault.incoming, exc)
        for path, report, take in found:
            await self._leftover(path, report, take)
        try:
            stranded = await self._stranded_candidates()
        except Exception as exc:
            stranded = []
            logger.error("reconciler: cannot look for stranded clips: %s", exc)
        for path in stranded:
            await self._one_stranded(path)
        self._report()
        if self._pending:
            self._task = asyncio.create_task(self._retry(), name="alerta-clip-reconcile-retry")
        else:
            self.done.set()
        return self.result

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- the retry ------------------------------------------------------------------

    async def _retry(self) -> None:
        while self._pending:
            await asyncio.sleep(self.retry_s)
            self.retries += 1
            try:
                await self._retry_once()
            except Exception:  # the store may be briefly unwritable too: next time
                logger.exception("reconciler: retry %d failed", self.retries)
        logger.warning(
            "reconciler: every clip left at start-up is seen to after %d retr%s "
            "(attached %d, quarantined %d in all)",
            self.retries, "y" if self.retries == 1 else "ies",
            len(self.result.attached), len(self.result.quarantined),
        )
        self.done.set()

    async def _retry_once(self) -> None:
        if self._pending.folders:
            refused = self.vault.prepare()
            self._pending.folders = bool(refused)
            if refused:
                logger.info("reconciler: still waiting for room: %s", "; ".join(refused))
        leftovers, self._pending.leftovers = self._pending.leftovers, []
        for path in leftovers:
            match = NAME.match(path.name)
            report, take = (int(match["report"]), int(match["take"])) if match else (None, None)
            await self._leftover(path, report, take)
        stranded, self._pending.stranded = self._pending.stranded, []
        for path in stranded:
            await self._one_stranded(path)

    # --- one file -------------------------------------------------------------------

    async def _leftover(self, path: Path, report: int | None, take: int | None) -> None:
        if not await asyncio.to_thread(path.exists):
            return  # seen to in the meantime (an operator moved it)
        try:
            await self._settle_leftover(path, report, take)
        except Exception as exc:  # a full disk, a refused write: the file stays, we come back
            self._pending.leftovers.append(path)
            await self._waiting(path.name, report, f"{type(exc).__name__}: {exc}")

    async def _settle_leftover(self, path: Path, report: int | None, take: int | None) -> None:
        if report is None or take is None:
            self.vault.quarantine_stranger(path)
            self.result.quarantined.append(path.name)
            return
        if not await report_exists(self.db, report) or await clip_taken(self.db, report, take):
            self.vault._quarantine(path, "left in incoming for an unknown or already attached take")
            self.result.quarantined.append(path.name)
            return
        try:
            clip = await self.vault.keep(path, partial=True)
        except ClipInvalid:  # moved to quarantine with its reason
            self.result.quarantined.append(path.name)
            return
        if clip is None:  # empty: moved to quarantine
            self.result.quarantined.append(path.name)
            return
        try:
            await self.reports.attach_clip(report, take, clip)
        except Exception as exc:  # in place but not attached: a stranded clip now
            kept = self.vault.path_of(clip.path)
            self._pending.stranded.append(kept)
            await self._waiting(clip.path, report, f"{type(exc).__name__}: {exc}")
            return
        self.result.attached.append(clip.path)

    async def _stranded_candidates(self) -> list[Path]:
        """Files in the recent day folders that the store does not know."""
        today = datetime.now()
        first = (today - timedelta(days=RECENT_DAYS)).strftime("%Y/%m/%d")
        known = await clip_paths_since(self.db, first)
        out: list[Path] = []
        for back in range(RECENT_DAYS + 1):
            day = (today - timedelta(days=back)).strftime("%Y/%m/%d")
            folder = self.vault.root / day
            if folder.is_dir():
                out.extend(p for p in sorted(folder.iterdir())
                           if NAME.match(p.name) and f"{day}/{p.name}" not in known)
        return out

    async def _one_stranded(self, path: Path) -> None:
        """A clip renamed into place whose attach never committed (crash in between)."""
        rel = path.relative_to(self.vault.root).as_posix()
        match = NAME.match(path.name)
        assert match is not None
        report, take = int(match["report"]), int(match["take"])
        try:
            if not await report_exists(self.db, report) or await clip_taken(self.db, report, take):
                return
            try:
                facts = await asyncio.to_thread(inspect_wav, path)
            except ClipInvalid as exc:
                logger.warning("stranded clip %s is not valid (%s); left in place", rel, exc)
                return
            clip = ClipInfo(rel, round(facts.seconds, 3), facts.bytes, facts.sha256, True)
            await self.reports.attach_clip(report, take, clip)
            self.result.attached.append(rel)
        except Exception as exc:  # the store refused: leave it, try again later
            self._pending.stranded.append(path)
            await self._waiting(rel, report, f"{type(exc).__name__}: {exc}")

    # --- telling people ---------------------------------------------------------------

    async def _waiting(self, what: str, report: int | None, reason: str) -> None:
        """One log line per attempt; one alert per file, the first time it must wait."""
        self.result.waiting.append(what)
        logger.error(
            "reconciler: %s left in place (%s); trying again every %g s",
            what, reason, self.retry_s,
        )
        if what in self._alerted:
            return
        self._alerted.add(what)
        try:
            known = report is not None and await report_exists(self.db, report)
            await raise_alert(
                self.db, report if known else None, ALERT_KIND, self.clock(),
                {"file": what, "reason": reason, "folder": str(self.vault.incoming),
                 "retry_s": self.retry_s},
            )
        except Exception:  # the store may be on the same full disk: the log line stands
            logger.exception("reconciler: the alert for %s could not be stored", what)

    def _report(self) -> None:
        result = self.result
        if result.attached or result.quarantined or result.waiting:
            logger.warning(
                "reconciler: attached %d clip(s), quarantined %d, %d waiting for the disk",
                len(result.attached), len(result.quarantined), len(set(result.waiting)),
            )


async def reconcile(vault: ClipVault, db: Database, reports: Reports) -> ReconcileResult:
    """One pass with no retry (a one-shot command); what must wait is logged and alerted."""
    reconciler = Reconciler(vault, db, reports)
    try:
        return await reconciler.start([])
    finally:
        await reconciler.stop()

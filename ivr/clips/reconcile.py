"""At start-up: attach or quarantine every clip a crash left behind. Never delete."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ivr.clips.vault import NAME, ClipVault, inspect_wav
from ivr.domain.clips import ClipInfo, ClipInvalid
from ivr.store.db import Database
from ivr.store.reports import Reports, clip_paths_since, clip_taken, report_exists

logger = logging.getLogger(__name__)

RECENT_DAYS = 3  # a crash between rename and attach can only strand clips of recent days


@dataclass
class ReconcileResult:
    attached: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)


async def reconcile(vault: ClipVault, db: Database, reports: Reports) -> ReconcileResult:
    result = ReconcileResult()
    for path, report, take in vault.leftovers():
        if not await report_exists(db, report) or await clip_taken(db, report, take):
            vault._quarantine(path, "left in incoming for an unknown or already attached take")
            result.quarantined.append(path.name)
            continue
        try:
            clip = await vault.keep(path, partial=True)
        except ClipInvalid:
            result.quarantined.append(path.name)
            continue
        if clip is None:
            result.quarantined.append(path.name)
            continue
        await reports.attach_clip(report, take, clip)
        result.attached.append(clip.path)
    await _stranded(vault, db, reports, result)
    if result.attached or result.quarantined:
        logger.warning(
            "reconciler: attached %d clip(s), quarantined %d",
            len(result.attached), len(result.quarantined),
        )
    return result


async def _stranded(
    vault: ClipVault, db: Database, reports: Reports, result: ReconcileResult
) -> None:
    """Clips renamed into place whose attach never committed (crash in between)."""
    today = datetime.now()
    first = (today - timedelta(days=RECENT_DAYS)).strftime("%Y/%m/%d")
    known = await clip_paths_since(db, first)
    for back in range(RECENT_DAYS + 1):
        day = (today - timedelta(days=back)).strftime("%Y/%m/%d")
        folder = vault.root / day
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            rel = f"{day}/{path.name}"
            match = NAME.match(path.name)
            if rel in known or match is None:
                continue
            report, take = int(match["report"]), int(match["take"])
            if not await report_exists(db, report) or await clip_taken(db, report, take):
                continue
            try:
                facts = inspect_wav(path)
            except ClipInvalid as exc:
                logger.warning("stranded clip %s is not valid (%s); left in place", rel, exc)
                continue
            clip = ClipInfo(rel, round(facts.seconds, 3), facts.bytes, facts.sha256, True)
            await reports.attach_clip(report, take, clip)
            result.attached.append(rel)

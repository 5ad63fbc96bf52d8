"""The purge: removes the clips the retention rules allow, and nothing else.

Run daily by the controller (``purge_daily``) or by hand (``alerta purge``).
Each removal is a ``clip.purged`` event in the report's history, written
before the files go. Reports on legal hold are never touched: the check is
made again inside the transaction that marks a clip purged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ivr.domain.retention import RetentionRule, purge_allowed
from ivr.store import retention as store
from ivr.store.db import Database

logger = logging.getLogger(__name__)

DAY_S = 24 * 3600.0


@dataclass
class PurgeResult:
    purged: list[dict[str, Any]] = field(default_factory=list)  # clip, report, path, rule
    skipped_on_hold: int = 0  # went on hold between the look and the purge
    files_removed: int = 0
    file_errors: list[str] = field(default_factory=list)


def _inside(root: Path, relative: str) -> Path | None:
    """The file under ``root``; None for a path that would escape it."""
    if not relative:
        return None
    full = (root / relative).resolve()
    try:
        full.relative_to(root)
    except ValueError:
        return None
    return full


def _remove(root: Path, relatives: Sequence[str], result: PurgeResult) -> None:
    root = root.resolve()
    for relative in relatives:
        path = _inside(root, relative)
        if path is None:
            continue
        try:
            path.unlink()
            result.files_removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            result.file_errors.append(f"{relative}: {exc}")


async def _candidates(db: Database) -> AsyncIterator[store.ClipOnRecord]:
    after = 0
    while page := await store.purge_candidates(db, after=after):
        for clip in page:
            yield clip
        after = page[-1].clip_id


async def purge(
    db: Database,
    voiceclips: Path,
    rules: Sequence[RetentionRule],
    now: datetime,
    *,
    dry_run: bool = False,
) -> PurgeResult:
    root = voiceclips
    result = PurgeResult()
    async for clip in _candidates(db):
        rule = purge_allowed(
            rules, report_type=clip.report_type, state=clip.state, legal_hold=False,
            recorded_at=clip.recorded_at, released_at=clip.released_at, now=now,
        )
        if rule is None:
            continue
        if clip.keep_days is not None and now - clip.recorded_at < timedelta(days=clip.keep_days):
            continue  # the municipality's own minimum (its law, its contract) is longer
        entry = {"clip": clip.clip_id, "report": clip.report_id, "path": clip.path,
                 "rule": rule.name}
        if dry_run:
            result.purged.append(entry)
            continue
        marked = await store.mark_purged(db, clip, rule.name,
                                         drop_transcript=rule.purge_transcript, now=now)
        if not marked:
            result.skipped_on_hold += 1
            continue
        result.purged.append(entry)
        files = [clip.path, clip.playback_path or ""]
        await asyncio.to_thread(_remove, root, files, result)
    if not dry_run:
        # Files a crash left between marking and removing (the mark is the promise).
        for path, playback in await store.recently_purged(db, now):
            await asyncio.to_thread(_remove, root, [path, playback], result)
    if result.purged:
        logger.info("purge: %d clip(s) %s", len(result.purged),
                    "would be removed" if dry_run else "removed")
    for problem in result.file_errors:
        logger.error("purge: could not remove %s", problem)
    return result


async def purge_daily(
    db: Database,
    voiceclips: Path,
    rules: Sequence[RetentionRule],
    clock: Callable[[], datetime],
    every_s: float = DAY_S,
) -> None:
    """Purge now and then every ``every_s`` seconds, until cancelled."""
    while True:
        try:
            async with db.singleton("purge") as mine:
                if mine:
                    await purge(db, voiceclips, rules, clock())
                else:
                    logger.info("purge: another controller is purging; not this one")
        except Exception:  # a bad day must not end the daily purge
            logger.exception("purge: failed; trying again at the next run")
        await asyncio.sleep(every_s)

"""Room on the voiceclips disk: checked before a message is recorded.

A recording that cannot be written is a message lost. When free space is under
``min_free_mb`` the flow sends the caller to an operator instead and an
``alert.disk_low`` event tells the command centre (and the log) at once.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ivr.store.alerts import raise_alert
from ivr.store.db import Database

logger = logging.getLogger(__name__)

MB = 1024 * 1024


def free_mb(folder: Path) -> float:
    """Free space for an unprivileged writer on the filesystem holding ``folder``.

    A folder that does not exist (a full disk kept start-up from making it) has no room.
    """
    try:
        return shutil.disk_usage(folder).free / MB
    except FileNotFoundError:
        return 0.0


class DiskGuard:
    """Implements ``ivr.core.ports.DiskSpace``."""

    def __init__(
        self, folder: Path, min_free_mb: int, db: Database, clock: Callable[[], datetime]
    ) -> None:
        self.folder = folder
        self.min_free_mb = min_free_mb
        self.db = db
        self.clock = clock

    async def room_to_record(self, report: int) -> bool:
        # statvfs is one system call on a local disk: no thread hop needed.
        free = free_mb(self.folder)
        if free >= self.min_free_mb:
            return True
        logger.error(
            "disk low: %.0f MB free in %s, %d MB needed; report %d goes to an operator",
            free, self.folder, self.min_free_mb, report,
        )
        try:
            await raise_alert(
                self.db, report, "alert.disk_low", self.clock(),
                {"free_mb": round(free, 1), "min_free_mb": self.min_free_mb,
                 "folder": str(self.folder)},
            )
        except Exception:  # a full disk may refuse the alert too: the caller still goes on
            logger.exception("disk low: the alert could not be stored")
        return False

    async def recording_failed(self, report: int, take: int, detail: str) -> None:
        """Asterisk could not write take ``take`` of ``report``: alert the command centre."""
        free = free_mb(self.folder)
        logger.error(
            "recording failed: report %d take %d not written (%s); %.0f MB free in %s",
            report, take, detail, free, self.folder,
        )
        try:
            await raise_alert(
                self.db, report, "alert.record_failed", self.clock(),
                {"take": take, "detail": detail, "free_mb": round(free, 1),
                 "folder": str(self.folder)},
            )
        except Exception:  # the report and the readback matter more than the alert row
            logger.exception("recording failed: the alert could not be stored")

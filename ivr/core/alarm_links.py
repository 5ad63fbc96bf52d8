"""Use case: link supervision. A device that promised to poll every ``poll_s`` and has
been silent for ``misses`` × ``poll_s`` (counted from its creation when it was never
heard) is announced lost: ``link = 'lost'`` and one ``alarm.link_lost`` event for its
municipality, which the notifier turns into staff alerts (cause ``alarm_link_lost``).
Its next signal or poll restores it (``alarm.link_restored``, in the alarm store).

Several controllers may watch one store: the store marks a device lost only where it
is not lost already, and only the one whose write did so announces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr.core.records import StoreError

logger = logging.getLogger(__name__)

MISSES = 2.5  # polls a device may miss before its link is lost (one late poll is not)
EVERY_S = 15.0


@dataclass(frozen=True, slots=True)
class SilentDevice:
    """A supervised device past its grace, as the store found it."""

    id: int
    municipality: int
    account: str
    site: str
    poll_s: int
    last_seen_at: str | None  # None: never heard since it was added


class LinkBook(Protocol):
    async def silent(self, now: datetime, misses: float) -> list[SilentDevice]:
        """Supervised devices not lost yet, unheard for more than ``misses`` × poll_s."""
        ...

    async def mark_lost(self, device: SilentDevice, now: datetime, misses: float) -> bool:
        """Mark ``device`` lost and append its event, if it is still silent and not lost:
        True for the caller who did (and so announced it)."""
        ...


class AlarmLinkWatch:
    def __init__(self, book: LinkBook, clock: Callable[[], datetime], *,
                 every_s: float = EVERY_S, misses: float = MISSES) -> None:
        self.book = book
        self.clock = clock
        self.every_s = every_s
        self.misses = misses
        self.announced = 0

    async def check(self) -> int:
        """One look: a read, and a write only for a device that has just gone silent.
        Returns how many this watcher announced."""
        now = self.clock()
        announced = 0
        for device in await self.book.silent(now, self.misses):
            if await self.book.mark_lost(device, now, self.misses):
                announced += 1
                logger.error("alarms: link lost to %s (%s), last heard %s", device.site,
                             device.account, device.last_seen_at or "never")
        self.announced += announced
        return announced

    async def run(self) -> None:
        """Check every ``every_s`` until cancelled; an unavailable store is tried again."""
        while True:
            try:
                await self.check()
            except (StoreError, OSError) as exc:
                logger.warning("alarms: link watch cannot read the store (%s); trying again",
                               exc)
            except Exception:
                logger.exception("alarms: link watch failed; trying again")
            await asyncio.sleep(self.every_s)

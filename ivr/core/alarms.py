"""Use case: a signal from a silent-alarm device, whichever way it came (DC-09 over IP,
the webhook, Contact ID by phone). The intake checks what is the protocol's (framing,
CRC, keys, the timestamp window: ``ivr.domain.alarms.in_window`` with the device's own
tolerance), then calls ``receive`` and acknowledges the device only once it returns:
by then the signal and the report it opened are committed. A signal the device resends
(it got no acknowledgement) is recognised and acknowledged again, never stored twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ivr.domain.alarms import Device, Recorded, Signal, classify

logger = logging.getLogger(__name__)


class AlarmBook(Protocol):
    async def device(self, kind: str, account: str) -> Device | None: ...

    async def record(self, device: Device, signal: Signal, kind: str, now: datetime
                     ) -> Recorded: ...

    async def seen(self, device: Device, now: datetime) -> None: ...


class AlarmIntake:
    def __init__(self, book: AlarmBook, clock: Callable[[], datetime]) -> None:
        self.book = book
        self.clock = clock

    async def device(self, kind: str, account: str) -> Device | None:
        """The device an intake is hearing from (its keys, clock and site), or None."""
        return await self.book.device(kind, account.upper() if kind == "dc09" else account)

    async def receive(self, device: Device, signal: Signal) -> Recorded | None:
        """Record ``signal``; returns once it is committed (None for a poll, which only
        shows the device alive). Raises StoreError when the store cannot take it: the
        device must then get no acknowledgement, so that it sends again."""
        kind = classify(signal.code)
        if kind == "poll":
            await self.book.seen(device, self.clock())
            return None
        recorded = await self.book.record(device, signal, kind, self.clock())
        if recorded.duplicate:
            logger.info("alarms: %s %s resent (signal %d): acknowledged again",
                        device.kind, device.account, recorded.signal_id)
        elif recorded.report_id is not None:
            logger.warning("alarms: %s from %s (%s): report %d", kind, device.site,
                           device.account, recorded.report_id)
        return recorded

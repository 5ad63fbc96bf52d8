"""Use case: tell staff when something the command center relies on has been down for a
while: the AMI link (no callbacks), reports waiting in the journal (the database away).

A blip is not an alert: the thing must stay down ``grace_s``. Then one alert event
(``alert.ami_down``, ``alert.journal_waiting``: the notifier messages whoever the rules
name), retried until the store takes it, and one ``...restored`` event when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.core.records import StoreError

logger = logging.getLogger(__name__)

Raise = Callable[[str, dict[str, Any]], Awaitable[Any]]


class OutageWatch:
    def __init__(self, raise_alert: Raise, kind: str, *, grace_s: float = 60.0,
                 retry_s: float = 15.0) -> None:
        self.raise_alert = raise_alert
        self.kind = kind  # alert.<what>; restored: alert.<what> with "_restored"
        self.grace_s = grace_s
        self.retry_s = retry_s
        self.down = False
        self.detail = ""
        self.alerted = False
        self._task: asyncio.Task[None] | None = None

    def update(self, up: bool, detail: str = "") -> None:
        """The watched thing's state now (call on every change; repeats are harmless)."""
        self.detail = detail
        if not up and not self.down:
            self.down = True
            self._restart(self._alert_later())
        elif up and self.down:
            self.down = False
            self._restart(self._restored() if self.alerted else None)

    def _restart(self, work: Awaitable[None] | None) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if work is not None:
            self._task = asyncio.get_running_loop().create_task(work, name=self.kind)  # type: ignore[arg-type]

    async def _send(self, kind: str, data: dict[str, Any]) -> None:
        while True:
            try:
                await self.raise_alert(kind, data)
                return
            except (StoreError, OSError) as exc:
                logger.warning("%s: the store does not take the alert yet (%s)", kind, exc)
                await asyncio.sleep(self.retry_s)

    async def _alert_later(self) -> None:
        await asyncio.sleep(self.grace_s)
        if not self.down:
            return
        self.alerted = True
        logger.error("%s: down for %g s: %s", self.kind, self.grace_s, self.detail)
        await self._send(self.kind, {"detail": self.detail[:200], "after_s": self.grace_s})

    async def _restored(self) -> None:
        self.alerted = False
        await self._send(self.kind + "_restored", {"detail": self.detail[:200]})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

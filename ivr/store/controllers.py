"""Controllers sharing one store: who is alive, and the calls a dead one left open.

Every controller renews its row in ``controllers`` every few seconds. One whose row
was not renewed within the lease is gone (killed, its machine or network down):
another controller closes the calls it left open, as ``interrupted``, with the
'call.ended' event whose trigger queues their clips. A live controller's calls are
never touched, whatever their age.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import aiosqlite

from ivr.store.db import Database, StoreError
from ivr.store.reports import iso
from ivr.store.startup import close_open_calls

logger = logging.getLogger(__name__)


class Controllers:
    def __init__(self, db: Database, name: str, *, lease_s: float,
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.name = name
        self.lease_s = lease_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        # Since when this controller has renewed its lease without a miss: only after a
        # whole lease of that may it call others gone (after an outage of the store every
        # controller had its chance to renew first, and none is closed for the outage).
        self._renewing_since: datetime | None = None
        self.closed: list[int] = []  # reports this controller closed for dead ones

    async def beat(self) -> None:
        """Say this controller is alive (and, the first time, when it started)."""
        at = iso(self.clock())

        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO controllers (name, started_at, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
                (self.name, at, at))

        await self.db.write(op)

    async def gone(self) -> list[str]:
        expired = iso(self.clock() - timedelta(seconds=self.lease_s))
        rows = await self.db.fetchall(
            "SELECT name FROM controllers WHERE seen_at < ? AND name != ? ORDER BY name",
            (expired, self.name))
        return [str(r[0]) for r in rows]

    async def sweep(self) -> list[int]:
        """Close the open calls of every controller whose lease ran out."""
        closed: list[int] = []
        since = self._renewing_since
        if since is None or self.clock() - since < timedelta(seconds=self.lease_s):
            return closed
        for name in await self.gone():
            now = self.clock()
            done = await close_open_calls(
                self.db, now, controller=name,
                reason=f"its controller {name} stopped answering (lease of"
                       f" {self.lease_s:g} s ran out)")
            if done:
                logger.warning("controllers: %s is gone; closed %d call(s) it left open: %s",
                               name, len(done), ", ".join(map(str, done)))
            closed += done
        self.closed += closed
        return closed

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alerta-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        every = max(self.lease_s / 5, 0.05)
        while True:
            try:
                await self.beat()
                if self._renewing_since is None:
                    self._renewing_since = self.clock()
                await self.sweep()
            except StoreError as exc:  # the store is away: calls go on; try again
                self._renewing_since = None
                logger.info("controllers: lease not renewed (%s)", exc)
            except Exception:
                logger.exception("controllers: the lease task failed; retrying")
            await asyncio.sleep(every)

"""The live feed: rows of the ``events`` table, pushed to every open console.

Controller and console may be separate processes sharing one SQLite file, so
the table itself is the bus. One watcher per console process notices new rows
(at once when the write happened in this process, within ``POLL_S`` otherwise)
and wakes every subscriber; each subscriber then reads the rows after its own
last id, so a reconnecting console (``Last-Event-ID``) misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ivr.store.db import Database
from ivr.store.queries import ConsoleQueries

logger = logging.getLogger(__name__)

POLL_S = 0.25


class EventFeed:
    def __init__(self, db: Database, queries: ConsoleQueries) -> None:
        self.db = db
        self.queries = queries
        self.last_id = 0
        self._changed = asyncio.Condition()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.extra: dict[str, str] = {}  # named non-table state (e.g. the AMI link), by name
        self.generation = 0
        self._extra_dirty = False

    async def start(self) -> None:
        self.last_id = await self.queries.last_event_id()
        self.db.on_commit.append(self._kick.set)
        self._task = asyncio.create_task(self._watch(), name="console-event-feed")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.db.on_commit.remove(self._kick.set)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def publish(self, name: str, payload: str) -> None:
        """Push a piece of process state (not a table row) to every subscriber."""
        self.extra[name] = payload
        self._extra_dirty = True
        self._kick.set()

    async def _watch(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands as the kick fires (publish() just before stop()), and this loop never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._kick.wait()
            self._kick.clear()
            try:
                newest = await self.queries.last_event_id()
            except Exception:  # the store closing under us; try again on the next tick
                logger.debug("event feed: read failed", exc_info=True)
                continue
            if newest != self.last_id or self._extra_dirty:
                self._extra_dirty = False
                self.last_id = max(self.last_id, newest)
                async with self._changed:
                    self.generation += 1
                    self._changed.notify_all()

    async def wait(self, seen_generation: int, within_s: float) -> int:
        """Wait until something changed after ``seen_generation``; return the new one."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.generation != seen_generation), within_s
                )
            return self.generation

"""Report numbers that do not need the database at the moment a caller picks a type.

A controller reserves blocks of numbers ahead while the store is healthy; opening a
report takes the next number of the block in memory. Every other way of opening a
report (the console's manual entry) takes a number above every reserved block, so
the two never meet. When the blocks run out during a long outage, the controller
goes on past the highest number it knows of; the first reservation after the
outage starts above those numbers, and the journal stores them with their reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

import aiosqlite

from ivr.store.db import Database, StoreError

logger = logging.getLogger(__name__)

_HIGHEST = (
    "SELECT MAX(COALESCE((SELECT MAX(id) FROM reports), 0),"
    " COALESCE((SELECT MAX(last) FROM report_number_blocks), 0))"
)


async def next_free_number(conn: aiosqlite.Connection) -> int:
    """A number no report holds and no controller has reserved (inside a write)."""
    async with conn.execute(_HIGHEST) as cur:
        row = await cur.fetchone()
    return int(row[0] if row else 0) + 1


class NumberBlocks:
    """The numbers this controller may hand out without asking the database."""

    def __init__(self, db: Database, *, size: int, holder: str,
                 clock: Callable[[], datetime]) -> None:
        self._db = db
        self._size = max(2, size)
        self._holder = holder
        self._clock = clock
        self._free: deque[tuple[int, int]] = deque()  # (next, last) ranges, in order
        self._highest = 0  # the highest number handed out or known to be taken
        self._refill: asyncio.Task[None] | None = None
        self.overflowed = 0  # numbers handed out past every reserved block

    @property
    def available(self) -> int:
        return sum(last - nxt + 1 for nxt, last in self._free)

    async def start(self) -> None:
        """Learn the highest number (a read: works while another process writes), then
        reserve a first block when the store lets us (it may not, at this moment)."""
        row = await self._db.fetchone(_HIGHEST)
        self._highest = int(row[0] if row else 0)
        try:
            await self.reserve()
        except StoreError as exc:
            logger.warning("report numbers: no block reserved at start (%s); will retry", exc)

    async def stop(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)

    async def reserve(self) -> None:
        """Reserve one more block, above everything taken and everything handed out."""
        now = self._clock().isoformat(timespec="milliseconds")

        async def op(conn: aiosqlite.Connection) -> tuple[int, int]:
            # read when the write runs: numbers handed out while it waited count too
            first = max(await next_free_number(conn), self._highest + 1)
            last = first + self._size - 1
            await conn.execute(
                "INSERT INTO report_number_blocks (first, last, holder, reserved_at)"
                " VALUES (?, ?, ?, ?)", (first, last, self._holder, now))
            return first, last

        first, last = await self._db.write(op)
        self._free.append((first, last))
        self._highest = max(self._highest, last)

    def take(self) -> int:
        """The next number, at once; a refill starts in the background when half is used."""
        if self.available <= self._size // 2:
            self._start_refill()
        if self._free:
            nxt, last = self._free[0]
            if nxt == last:
                self._free.popleft()
            else:
                self._free[0] = (nxt + 1, last)
            return nxt
        self._highest += 1
        self.overflowed += 1
        logger.warning("report numbers: no reserved block left; handing out %d past the last "
                       "block (the next reservation starts above it)", self._highest)
        return self._highest

    def _start_refill(self) -> None:
        if self._refill is not None and not self._refill.done():
            return
        self._refill = asyncio.get_running_loop().create_task(self._refill_until_done())

    async def _refill_until_done(self) -> None:
        delay = 0.5
        while self.available <= self._size // 2:
            try:
                await self.reserve()
            except StoreError as exc:
                logger.info("report numbers: block not reserved yet (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

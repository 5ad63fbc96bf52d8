"""Report numbers that do not need the database at the moment a caller picks a type.

A controller reserves blocks of numbers ahead while the store is healthy; opening a
report takes the next number of the block in memory. Every other way of opening a
report (the console's manual entry) takes a number above every reserved block, so
the two never meet. When the blocks run out during a long outage, the controller
goes on past the highest number it knows of; the first reservation after the
outage starts above those numbers, and the journal stores them with their reports.

Several controllers share one store: each also keeps a spare block, reserved like
the others but touched only when its blocks ran out while the store was away, so a
long outage is lived on numbers no other controller can hand out. Only when the
spare is spent too does a controller go past the highest number it knows of (logged:
with several controllers that number may also be another's).

Each municipality has its own numbers (its range of report ids, ivr.domain.
municipalities), so each has its own blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

import aiosqlite

from ivr.domain.municipalities import first_id, last_id
from ivr.store.db import Database, StoreError

logger = logging.getLogger(__name__)

# The highest id taken or reserved in one municipality's range (both walk an index).
_HIGHEST = (
    "SELECT MAX(?1 - 1,"
    " COALESCE((SELECT MAX(id) FROM reports WHERE id BETWEEN ?1 AND ?2), 0),"
    " COALESCE((SELECT MAX(last) FROM report_number_blocks WHERE last BETWEEN ?1 AND ?2), 0))"
)


def _bounds(municipality: int) -> tuple[int, int]:
    return first_id(municipality), last_id(municipality)


async def next_free_number(conn: aiosqlite.Connection, municipality: int = 1) -> int:
    """An id of ``municipality`` no report holds and no controller has reserved
    (inside a write)."""
    async with conn.execute(_HIGHEST, _bounds(municipality)) as cur:
        row = await cur.fetchone()
    return int(row[0] if row else 0) + 1


class NumberBlocks:
    """The numbers this controller may hand out without asking the database."""

    def __init__(self, db: Database, *, size: int, holder: str,
                 clock: Callable[[], datetime], municipality: int = 1) -> None:
        self._db = db
        self.municipality = municipality
        self._size = max(2, size)
        self._holder = holder
        self._clock = clock
        self._free: deque[tuple[int, int]] = deque()  # (next, last) ranges, in order
        self._spare: deque[tuple[int, int]] = deque()  # for outages only
        # the highest number handed out or known to be taken
        self._highest = first_id(municipality) - 1
        self._refill: asyncio.Task[None] | None = None
        self.overflowed = 0  # numbers handed out past every reserved block

    @property
    def available(self) -> int:
        return sum(last - nxt + 1 for nxt, last in self._free)

    async def start(self) -> None:
        """Learn the highest number (a read: works while another process writes), then
        reserve a first block when the store lets us (it may not, at this moment)."""
        row = await self._db.fetchone(_HIGHEST, _bounds(self.municipality))
        self._highest = int(row[0] if row else 0)
        try:
            await self.reserve()
            await self.reserve(spare=True)
        except StoreError as exc:
            logger.warning("report numbers: no block reserved at start (%s); will retry", exc)

    async def stop(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)

    async def reserve(self, *, spare: bool = False) -> None:
        """Reserve one more block, above everything taken and everything handed out
        (``spare``: the block kept for an outage)."""
        now = self._clock().isoformat(timespec="milliseconds")

        async def op(conn: aiosqlite.Connection) -> tuple[int, int]:
            # read when the write runs: numbers handed out while it waited count too
            first = max(await next_free_number(conn, self.municipality), self._highest + 1)
            last = min(first + self._size - 1, last_id(self.municipality))
            if last < first:
                raise StoreError(f"municipality {self.municipality} has no report numbers left")
            await conn.execute(
                "INSERT INTO report_number_blocks (first, last, holder, reserved_at)"
                " VALUES (?, ?, ?, ?)", (first, last, self._holder, now))
            return first, last

        first, last = await self._db.write(op)
        (self._spare if spare else self._free).append((first, last))
        self._highest = max(self._highest, last)

    def take(self) -> int:
        """The next number, at once; a refill starts in the background when half is used."""
        if self.available <= self._size // 2 or not self._spare:
            self._start_refill()
        for ranges in (self._free, self._spare):
            if ranges:
                nxt, last = ranges[0]
                if nxt == last:
                    ranges.popleft()
                else:
                    ranges[0] = (nxt + 1, last)
                if ranges is self._spare:
                    logger.warning("report numbers: no reserved block left; %d from this"
                                   " controller's spare block", nxt)
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
        while self.available <= self._size // 2 or not self._spare:
            try:
                if self.available <= self._size // 2:
                    await self.reserve()
                else:
                    await self.reserve(spare=True)
            except StoreError as exc:
                logger.info("report numbers: block not reserved yet (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


class MunicipalNumbers:
    """Number blocks for every municipality; one that appears later starts at its first call."""

    def __init__(self, db: Database, *, size: int, holder: str,
                 clock: Callable[[], datetime]) -> None:
        self._db = db
        self._size = size
        self._holder = holder
        self._clock = clock
        self._blocks: dict[int, NumberBlocks] = {}

    def _make(self, municipality: int) -> NumberBlocks:
        blocks = NumberBlocks(self._db, size=self._size, holder=self._holder,
                              clock=self._clock, municipality=municipality)
        self._blocks[municipality] = blocks
        return blocks

    @property
    def overflowed(self) -> int:
        return sum(b.overflowed for b in self._blocks.values())

    async def start(self) -> None:
        try:
            rows = await self._db.fetchall("SELECT id FROM municipalities ORDER BY id")
        except StoreError as exc:  # the store is away: municipality 1 at least, at once
            logger.warning("report numbers: municipalities not read at start (%s)", exc)
            rows = []
        for municipality in {1, *(int(r[0]) for r in rows)}:
            await self._make(municipality).start()

    async def stop(self) -> None:
        for blocks in self._blocks.values():
            await blocks.stop()

    async def take(self, municipality: int) -> int:
        blocks = self._blocks.get(municipality)
        if blocks is None:  # added after this controller started: learn its numbers now
            blocks = self._make(municipality)
            try:
                await blocks.start()
            except StoreError:
                del self._blocks[municipality]  # unknown highest: never guess; next call retries
                raise
        return blocks.take()

"""A report book that keeps every report when the database cannot take it in time.

Each change a call makes goes to the store with a bounded wait. When the store has
not begun it within ``wait_s`` (locked by a long rebuild, another process), or
refuses it (disk full, I/O error, gone), the change is written to the journal
instead, fsynced, and the call goes on as if it had been stored: the caller hears
a report number taken from a block reserved ahead (``ivr.store.numbers``).

Once a report has a change in the journal, its later changes go there too, so they
are applied in the order they happened. A background task replays the journal
whenever it holds records: in order, each change with the moment it happened and
its record key, which the database remembers in the same transaction; a replay
cut off half way and started again skips what was applied. When every record is
applied the journal is emptied.

A change the database refuses for a reason of its own (not its state: a bug, a
broken constraint) cannot be replayed; it is moved to ``rejected.jsonl`` beside
the journal with an ERROR line, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.core.ports import Location, NewReport, ReportStatus
from ivr.domain.clips import ClipInfo
from ivr.store.db import Op, StoreError
from ivr.store.journal import Journal, JournalError
from ivr.store.numbers import MunicipalNumbers
from ivr.store.reports import Reports, iso

logger = logging.getLogger(__name__)

# What the database says when it cannot take a write now, as opposed to a mistake of ours.
_UNAVAILABLE = (StoreError, sqlite3.OperationalError)


def once(op: Op, key: str, moment: datetime) -> Op:
    """``op``, unless the record ``key`` was applied before (then nothing)."""

    async def keyed(conn: aiosqlite.Connection) -> Any:
        cur = await conn.execute(
            "INSERT OR IGNORE INTO journal_applied (record_key, applied_at) VALUES (?, ?)",
            (key, iso(moment)),
        )
        if cur.rowcount == 0:
            return None
        return await op(conn)

    return keyed


class ResilientBook:
    """Implements ``ivr.core.ports.ReportBook``: the store when it answers, else the journal."""

    def __init__(self, reports: Reports, journal: Journal, numbers: MunicipalNumbers, *,
                 wait_s: float, retry_s: float = 2.0) -> None:
        self.reports = reports
        self.journal = journal
        self.numbers = numbers
        self.wait_s = wait_s
        self.retry_s = retry_s
        self._journalled: set[int] = {int(r["report"]) for r in journal.records}
        # Set when the store failed to take a change; until the journal is empty again
        # every change goes there, in order, without making each caller wait first.
        self._unhealthy = bool(self._journalled)
        self._wake = asyncio.Event()
        self.emptied = asyncio.Event()  # set while the journal holds nothing
        if not journal.records:
            self.emptied.set()
        self._replayer: asyncio.Task[None] | None = None
        self._replay_lock = asyncio.Lock()
        self.replayed = 0  # records applied from the journal since start
        # Other kinds of report opened through the journal (a participation case): the
        # record's "op" → the operation that stores it (record, report number, moment).
        self._openers: dict[str, Callable[[dict[str, Any], int, datetime], Op]] = {}

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.reports.clock

    def pending(self) -> int:
        """Reports waiting in the journal for the database."""
        return self.journal.pending()

    def kick(self) -> None:
        """Try the replay now rather than at the next retry (the store is back)."""
        self._wake.set()

    # --- start and stop ------------------------------------------------------------

    async def start(self) -> ResilientBook:
        await self.numbers.start()
        self._replayer = asyncio.get_running_loop().create_task(
            self._replay_forever(), name="alerta-journal-replay")
        if self.journal.records:
            self._wake.set()
        return self

    async def stop(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            await asyncio.gather(self._replayer, return_exceptions=True)
            self._replayer = None
        await self.numbers.stop()
        self.journal.close()

    # --- the report book -----------------------------------------------------------

    async def open_report(self, new: NewReport) -> int:
        number = await self.numbers.take(new.municipality)
        moment = self.clock()
        await self._store(number, self.reports.op_open(new, moment, number),
                          {"op": "open", "new": asdict(new)}, moment)
        return number

    def opener(self, name: str, build: Callable[[dict[str, Any], int, datetime], Op]) -> None:
        """Let ``open_other(name, ...)`` open another kind of report (before ``start``, so
        records kept before a restart replay)."""
        self._openers[name] = build

    async def open_other(self, name: str, municipality: int, record: dict[str, Any]) -> int:
        """Open a report of the kind ``name`` (JSON-able ``record``) as ``open_report``
        opens an incident report: a number from the block, the store or the journal."""
        number = await self.numbers.take(municipality)
        moment = self.clock()
        record = {**record, "op": name}
        await self._store(number, self._openers[name](record, number, moment), record, moment)
        return number

    async def set_callback(self, report: int, number: str | None, source: str) -> None:
        moment = self.clock()
        await self._store(report, self.reports.op_callback(report, number, source, moment),
                          {"op": "callback", "number": number, "source": source}, moment)

    async def set_location(self, report: int, location: Location) -> None:
        moment = self.clock()
        await self._store(report, self.reports.op_location(report, location, moment),
                          {"op": "location", "location": asdict(location)}, moment)

    async def attach_clip(self, report: int, take: int, clip: ClipInfo) -> None:
        moment = self.clock()
        await self._store(report, self.reports.op_clip(report, take, clip, moment),
                          {"op": "clip", "take": take, "clip": asdict(clip)}, moment)

    async def close_call(
        self, report: int, *, complete: bool, outcome: str, last_step: str | None
    ) -> None:
        moment = self.clock()
        await self._store(
            report, self.reports.op_close(report, complete, outcome, last_step, moment),
            {"op": "close", "complete": complete, "outcome": outcome, "last_step": last_step},
            moment)

    async def status(self, number: int) -> ReportStatus | None:
        return await self.reports.status(number)

    # --- store, or keep in the journal ---------------------------------------------

    async def _store(self, report: int, op: Op, record: dict[str, Any],
                     moment: datetime) -> None:
        if not self._unhealthy and report not in self._journalled:
            try:
                await self.reports.db.write_within(op, self.wait_s)
                return
            except _UNAVAILABLE as exc:
                self._unhealthy = True
                logger.warning("report %d: the database did not take a change (%s); "
                               "kept in the journal", report, exc)
        record.update(key=uuid.uuid4().hex, report=report, at=iso(moment))
        try:
            await self.journal.append(record)
        except JournalError:
            logger.exception("report %d: neither the database nor the journal took a change",
                             report)
            raise
        self._journalled.add(report)
        self.emptied.clear()
        if len(self.journal.records) == 1:
            self._wake.set()  # the first record starts the replay; later ones wait their turn

    # --- replay --------------------------------------------------------------------

    def _op_of(self, record: dict[str, Any]) -> Op:
        kind, report = record["op"], int(record["report"])
        moment = datetime.fromisoformat(record["at"])
        r = self.reports
        if kind == "open":
            op = r.op_open(NewReport(**record["new"]), moment, report)
        elif kind == "callback":
            op = r.op_callback(report, record["number"], record["source"], moment)
        elif kind == "location":
            op = r.op_location(report, Location(**record["location"]), moment)
        elif kind == "clip":
            op = r.op_clip(report, int(record["take"]), ClipInfo(**record["clip"]), moment)
        elif kind == "close":
            op = r.op_close(report, bool(record["complete"]), record["outcome"],
                            record["last_step"], moment)
        elif kind in self._openers:
            op = self._openers[kind](record, report, moment)
        else:
            raise ValueError(f"unknown journal record {kind!r}")
        return once(op, record["key"], moment)

    async def replay(self) -> bool:
        """Apply every record kept so far, in order; True when the journal is empty.

        StoreError when the database still cannot take them (try again later).
        One replay at a time: start-up replays while the background task may too,
        and a second pass over records the first one emptied would index past them."""
        async with self._replay_lock:
            return await self._replay()

    async def _replay(self) -> bool:
        applied = 0
        while True:
            records = self.journal.records
            if applied == len(records):
                if await self.journal.clear_if(applied):
                    self._journalled.clear()
                    self._unhealthy = False
                    self.emptied.set()
                    return True
                continue
            record = records[applied]
            try:
                await self.reports.db.write(self._op_of(record))
            except _UNAVAILABLE:
                raise
            except Exception as exc:
                self._reject(record, exc)
            applied += 1
            self.replayed += 1

    def _reject(self, record: dict[str, Any], exc: Exception) -> None:
        logger.error("journal: record %s of report %s cannot be stored (%s: %s); kept in %s",
                     record.get("key"), record.get("report"), type(exc).__name__, exc,
                     self.journal.folder / "rejected.jsonl")
        line = json.dumps({"record": record, "error": f"{type(exc).__name__}: {exc}"})
        with open(self.journal.folder / "rejected.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` or until kicked, then try again either way."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
        # as the event is set, and the task then never stops (a hang at shutdown)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
        self._wake.set()

    async def _replay_forever(self) -> None:
        delay = self.retry_s
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                emptied = await self.replay()
            except _UNAVAILABLE as exc:
                logger.info("journal: %d report(s) still wait for the database (%s)",
                            self.pending(), exc)
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
                continue
            except Exception:
                logger.exception("journal: replay failed; trying again")
                await self._pause(delay)
                continue
            delay = self.retry_s
            if emptied:
                logger.info("journal: every waiting report is in the database (%d record(s) "
                            "replayed so far)", self.replayed)

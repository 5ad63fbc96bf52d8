"""The reports an export reads: a read-only connection of its own, in chunks.

A million-row export neither sits in memory nor holds up the console's reader
(the live queue keeps answering). What is read is for analysis: no caller
numbers, no notes, no summaries, no clips (``ivr.analytics.exports`` writes it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.store.panels import Filters
from ivr.store.rollup import Clock

COLUMNS = ("id", "created_at", "type", "priority", "emergency", "state", "channel", "zone",
           "address", "lat", "lon", "location_source", "complete", "first_action_at",
           "callback_due_at", "callback_done_at", "unit", "duplicate_of")
CHUNK = 2000


def query(f: Filters, clock: Clock) -> tuple[str, list[Any]]:
    lo = clock.utc_iso(datetime(f.since.year, f.since.month, f.since.day))
    hi = clock.utc_iso(datetime(f.until.year, f.until.month, f.until.day))
    marks = ",".join("?" * len(f.municipalities))
    where = ["created_at >= ?", "created_at < ?", f"municipality_id IN ({marks})"]
    params: list[Any] = [lo, hi, *f.municipalities]
    for column, values in (("type", f.types), ("coalesce(zone, '')", f.zones),
                           ("channel", f.channels)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    sql = (f"SELECT {', '.join(COLUMNS)} FROM reports WHERE {' AND '.join(where)}"
           " ORDER BY created_at, id")
    return sql, params


def read_only(path: Path) -> str:
    return f"file:{path.resolve()}?mode=ro"


async def chunks(path: Path, f: Filters, clock: Clock) -> AsyncIterator[list[sqlite3.Row]]:
    """The rows in order, a chunk at a time, on the event loop."""
    sql, params = query(f, clock)
    async with aiosqlite.connect(read_only(path), uri=True) as conn:
        await conn.execute("PRAGMA busy_timeout = 5000")
        async with conn.execute(sql, params) as cur:
            while True:
                chunk = list(await cur.fetchmany(CHUNK))
                if not chunk:
                    return
                yield chunk


def rows(path: Path, f: Filters, clock: Clock) -> Iterator[tuple[Any, ...]]:
    """The rows in order, in a worker thread (the XLSX writer's side)."""
    sql, params = query(f, clock)
    with closing(sqlite3.connect(read_only(path), uri=True)) as conn:
        cur = conn.execute(sql, params)
        while True:
            chunk = cur.fetchmany(CHUNK)
            if not chunk:
                return
            yield from chunk

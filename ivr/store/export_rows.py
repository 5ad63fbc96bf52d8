"""The reports an export reads: a read-only connection of its own, in chunks.

A million-row export neither sits in memory nor holds up the console's reader
(the live queue keeps answering). What is read is for analysis: no caller
numbers, no notes, no summaries, no clips (``ivr.analytics.exports`` writes it).

Where the rows come from is the store's database (``location_of``): a SQLite file is
opened read-only; a ``postgresql://`` address gets a connection of its own with a
server-side cursor in one read-only transaction (one snapshot, whatever is
written meanwhile), ``CHUNK`` rows a fetch, so neither side holds the whole result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.store import dialect
from ivr.store.db import Database
from ivr.store.engine import is_postgres
from ivr.store.panels import Filters
from ivr.store.rollup import Clock

COLUMNS = ("id", "created_at", "type", "priority", "emergency", "state", "channel", "zone",
           "address", "lat", "lon", "location_source", "complete", "first_action_at",
           "callback_due_at", "callback_done_at", "unit", "duplicate_of")
CHUNK = 2000
CURSOR = "alerta_export"
PG_OPTIONS = "-c timezone=UTC -c default_transaction_read_only=on"
Row = Sequence[Any]


def query(f: Filters, clock: Clock) -> tuple[str, list[Any]]:
    lo = clock.utc_iso(datetime(f.since.year, f.since.month, f.since.day))
    hi = clock.utc_iso(datetime(f.until.year, f.until.month, f.until.day))
    marks = ",".join("?" * len(f.municipalities))
    where = ["created_at >= ?", "created_at < ?", f"municipality_id IN ({marks})",
             "service IS NULL"]  # incident reports, as the dashboard counts them
    params: list[Any] = [lo, hi, *f.municipalities]
    for column, values in (("type", f.types), ("coalesce(zone, '')", f.zones),
                           ("channel", f.channels)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    sql = (f"SELECT {', '.join(COLUMNS)} FROM reports WHERE {' AND '.join(where)}"
           " ORDER BY created_at, id")
    return sql, params


def location_of(db: Database) -> Path | str:
    """The database a store is on, as an export opens it: its file, or its address."""
    if getattr(db, "engine", "sqlite") == "postgresql":
        return str(getattr(db, "dsn"))  # noqa: B009  (PgDatabase's, not Database's)
    return db.path


def read_only(path: Path) -> str:
    return f"file:{path.resolve()}?mode=ro"


def _pg_query(f: Filters, clock: Clock) -> tuple[bytes, Any]:
    sql, params = query(f, clock)
    text, numbered = dialect.statement(sql)
    return text.encode(), dialect.parameters(params, numbered)


async def chunks(location: Path | str, f: Filters, clock: Clock) -> AsyncIterator[list[Row]]:
    """The rows in order, a chunk at a time, on the event loop."""
    if is_postgres(location):
        async for chunk in _pg_chunks(str(location), f, clock):
            yield chunk
        return
    sql, params = query(f, clock)
    async with aiosqlite.connect(read_only(Path(location)), uri=True) as conn:
        await conn.execute("PRAGMA busy_timeout = 5000")
        async with conn.execute(sql, params) as cur:
            while True:
                chunk = list(await cur.fetchmany(CHUNK))
                if not chunk:
                    return
                yield chunk


async def _pg_chunks(dsn: str, f: Filters, clock: Clock) -> AsyncIterator[list[Row]]:
    import psycopg  # loaded only when PostgreSQL is used

    text, params = _pg_query(f, clock)
    async with await psycopg.AsyncConnection.connect(dsn, options=PG_OPTIONS) as conn, \
            conn.transaction(), conn.cursor(name=CURSOR) as cur:
        await cur.execute(text, params)
        while True:
            chunk: list[Row] = list(await cur.fetchmany(CHUNK))
            if not chunk:
                return
            yield chunk


def rows(location: Path | str, f: Filters, clock: Clock) -> Iterator[Row]:
    """The rows in order, in a worker thread (the XLSX writer's side)."""
    if is_postgres(location):
        yield from _pg_rows(str(location), f, clock)
        return
    sql, params = query(f, clock)
    with closing(sqlite3.connect(read_only(Path(location)), uri=True)) as conn:
        cur = conn.execute(sql, params)
        while True:
            chunk = cur.fetchmany(CHUNK)
            if not chunk:
                return
            yield from chunk


def _pg_rows(dsn: str, f: Filters, clock: Clock) -> Iterator[Row]:
    import psycopg

    text, params = _pg_query(f, clock)
    with psycopg.connect(dsn, options=PG_OPTIONS) as conn, conn.transaction(), \
            conn.cursor(name=CURSOR) as cur:
        cur.execute(text, params)
        while True:
            chunk = cur.fetchmany(CHUNK)
            if not chunk:
                return
            yield from chunk

"""Keeping the rollups honest: each municipality's clock, a full recount, a check, bulk loads.

Triggers (migrations 004, then 009 per municipality) keep the rollups on every write.
What lives here is for the rare cases: ``alerta stats rebuild`` after the time zone changed, the
proof that the rollups equal a recount (tests, ``alerta stats rebuild --check``),
and bulk loads (the demo, benchmarks) that drop the triggers, insert, recount
and put the triggers back, all in the one transaction they were given.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from ivr.store.analytics_schema import ROLLUPS, Rollup, recount
from ivr.store.db import Database

TRIGGERS_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'analytics%'"
    " ORDER BY name"
)


class ClockError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Clock:
    """How UTC timestamps become the municipality's days and hours."""

    timezone: str
    utc_offset_minutes: int

    @property
    def offset(self) -> timedelta:
        return timedelta(minutes=self.utc_offset_minutes)

    def local(self, moment: datetime) -> datetime:
        return (moment.astimezone(UTC) + self.offset).replace(tzinfo=None)

    def utc_iso(self, local_midnight: datetime) -> str:
        """A local wall-clock time as the stored ISO UTC text it compares with."""
        moment = (local_midnight - self.offset).replace(tzinfo=UTC)
        return moment.isoformat(timespec="milliseconds")


def clock_for(timezone: str, *, at: datetime | None = None) -> Clock:
    """A time zone name → its standard (non-summer) offset from UTC."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ClockError(f"unknown time zone {timezone!r}") from exc
    year = (at or datetime.now(UTC)).year
    offsets = []
    for month in (1, 7):
        moment = datetime(year, month, 15, 12, tzinfo=zone)
        if not moment.dst():
            offset = moment.utcoffset()
            assert offset is not None
            offsets.append(int(offset.total_seconds() // 60))
    if not offsets:  # a zone always on "summer" time: take January's
        offset = datetime(year, 1, 15, 12, tzinfo=zone).utcoffset()
        assert offset is not None
        offsets.append(int(offset.total_seconds() // 60))
    return Clock(timezone, offsets[0])


async def stored_clock(conn: aiosqlite.Connection, municipality: int = 1) -> Clock:
    async with conn.execute(
        "SELECT timezone, utc_offset_minutes FROM municipalities WHERE id = ?", (municipality,)
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return Clock("UTC", 0)
    return Clock(str(row[0]), int(row[1]))


# --- recount -------------------------------------------------------------------------


def rebuild_statements(clock: Clock | None = None) -> list[tuple[str, tuple[object, ...]]]:
    """Set municipality 1's clock (when given: the settings' ``analytics_timezone``),
    empty every rollup and recount it from the reports, each municipality on its clock."""
    out: list[tuple[str, tuple[object, ...]]] = []
    if clock is not None:
        out.append(("UPDATE municipalities SET timezone = ?, utc_offset_minutes = ? WHERE id = 1",
                    (clock.timezone, clock.utc_offset_minutes)))
    for r in ROLLUPS:
        out.append((f"DELETE FROM {r.table}", ()))
        out.append((recount(r), ()))
    return out


async def rebuild(conn: aiosqlite.Connection, clock: Clock | None = None) -> None:
    """Recount every rollup; run it inside a write transaction (``Database.write``)."""
    for sql, params in rebuild_statements(clock):
        await conn.execute(sql, params)


def rebuild_sync(conn: sqlite3.Connection, clock: Clock | None = None) -> None:
    for sql, params in rebuild_statements(clock):
        conn.execute(sql, params)


def _nonzero(r: Rollup, table: str) -> str:
    cols = ", ".join((*r.keys, *r.measure_names))
    nonzero = " OR ".join(f"{m} != 0" for m in r.measure_names)
    return f"SELECT {cols} FROM {table} WHERE {nonzero}"


def difference_sql(r: Rollup) -> str:
    """Rows where the kept rollup and a fresh recount (temp.fresh_<table>) disagree."""
    kept, fresh = _nonzero(r, r.table), _nonzero(r, f"temp.fresh_{r.table}")
    return f"SELECT 'kept', * FROM ({kept} EXCEPT {fresh})" \
           f" UNION ALL SELECT 'fresh', * FROM ({fresh} EXCEPT {kept})"


async def differences(
    conn: aiosqlite.Connection, limit: int = 20
) -> dict[str, list[tuple[object, ...]]]:
    """Recount into temp tables and list where the rollups differ ({} when they agree)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for r in ROLLUPS:
        await conn.execute(f"DROP TABLE IF EXISTS temp.fresh_{r.table}")
        await conn.execute(f"CREATE TEMP TABLE fresh_{r.table} AS SELECT * FROM {r.table} WHERE 0")
        await conn.execute(recount(r, f"temp.fresh_{r.table}", "temp.fresh_rollup_day"))
        async with conn.execute(difference_sql(r) + f" LIMIT {int(limit)}") as cur:
            rows = [tuple(row) for row in await cur.fetchall()]
        if rows:
            out[r.table] = rows
    for r in ROLLUPS:
        await conn.execute(f"DROP TABLE temp.fresh_{r.table}")
    return out


# --- bulk loads ----------------------------------------------------------------------


@asynccontextmanager
async def triggers_off(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """Inside one write transaction: drop the rollup triggers, let the caller insert
    in bulk, then recount every rollup and put the triggers back as they were.

    A failure anywhere rolls the whole transaction back, triggers included.
    """
    async with conn.execute(TRIGGERS_SQL) as cur:
        saved = [(str(name), str(sql)) for name, sql in await cur.fetchall()]
    for name, _sql in saved:
        await conn.execute(f"DROP TRIGGER {name}")
    yield
    await rebuild(conn)
    for _name, sql in saved:
        await conn.execute(sql)


@contextmanager
def triggers_off_sync(conn: sqlite3.Connection) -> Iterator[None]:
    """``triggers_off`` for a plain sqlite3 connection (benchmark fixtures)."""
    saved = conn.execute(TRIGGERS_SQL).fetchall()
    for name, _sql in saved:
        conn.execute(f"DROP TRIGGER {name}")
    yield
    rebuild_sync(conn)
    for _name, sql in saved:
        conn.execute(sql)


async def clock_of(db: Database, municipality: int = 1) -> Clock:
    """The time zone a municipality's reports are counted in; UTC when it is unknown."""
    row = await db.fetchone("SELECT timezone, utc_offset_minutes FROM municipalities"
                            " WHERE id = ?", (municipality,))
    return Clock(str(row[0]), int(row[1])) if row else Clock("UTC", 0)

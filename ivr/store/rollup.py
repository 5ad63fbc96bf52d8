"""Keeping the rollups honest: each municipality's clock, a full recount, a check, bulk loads.

Triggers (migrations 004, then 009 per municipality) keep the rollups on every write.
What lives here is for the rare cases: ``alerta stats rebuild`` after the time zone changed, the
proof that the rollups equal a recount (tests, ``alerta stats rebuild --check``),
and bulk loads (the demo, benchmarks) that turn the triggers off, insert, recount
and turn them back on, all in the one transaction they were given.

Both engines run the same SQL (SQLite's dialect, translated for PostgreSQL by the
store's connection) except where they really differ, and there the engine is told
by the connection a write is given (``engine_of``): the scratch tables of the check
live in ``temp`` on SQLite and ``pg_temp`` on PostgreSQL, and SQLite turns triggers
off by dropping them (their text is kept in ``sqlite_master``) where PostgreSQL has
``ALTER TABLE … DISABLE TRIGGER``, undone by the rollback of a failed load as well.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosqlite

from ivr.store.analytics_schema import ROLLUPS, Rollup, recount
from ivr.store.db import Database

TRIGGERS_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'analytics%'"
    " ORDER BY name"
)
# PostgreSQL: the rollup triggers (on reports) that are on, in this schema.
PG_TRIGGERS_SQL = (
    "SELECT c.relname, g.tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid"
    " WHERE NOT g.tgisinternal AND g.tgenabled != 'D' AND g.tgname LIKE 'analytics%'"
    " AND c.relnamespace = current_schema()::regnamespace ORDER BY g.tgname"
)
TEMP_SCHEMA = {"sqlite": "temp", "postgresql": "pg_temp"}


def engine_of(conn: Any) -> str:
    """The engine under a write's connection: ``sqlite`` or ``postgresql``.

    The store's PostgreSQL connection wraps psycopg behind aiosqlite's methods; what
    is not an aiosqlite (or sqlite3) connection is that one, unless it says otherwise.
    """
    named = getattr(conn, "engine", None)
    if isinstance(named, str):
        return named
    return "sqlite" if isinstance(conn, aiosqlite.Connection | sqlite3.Connection) \
        else "postgresql"


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


def counted(r: Rollup, engine: str = "sqlite") -> Rollup:
    """The rollup as ``engine`` recounts it. PostgreSQL sums each measure cast to an
    integer, as its triggers add them (``upsert(portable=True)``): its own ``sum`` of
    integers instead of the ``sum(boolean)`` aggregate that ``pg_compat.sql`` supplies
    for SQLite's habit of summing truths, a function call per row and measure (twice
    as fast a recount). Same counts either way: a truth is 1 or 0 on both engines."""
    if engine != "postgresql":
        return r
    return replace(r, measures=tuple((name, f"CAST(({expr}) AS INTEGER)")
                                     for name, expr in r.measures))


def rebuild_statements(clock: Clock | None = None, engine: str = "sqlite"
                       ) -> list[tuple[str, tuple[object, ...]]]:
    """Set municipality 1's clock (when given: the settings' ``analytics_timezone``),
    empty every rollup and recount it from the reports, each municipality on its clock."""
    out: list[tuple[str, tuple[object, ...]]] = []
    if clock is not None:
        out.append(("UPDATE municipalities SET timezone = ?, utc_offset_minutes = ? WHERE id = 1",
                    (clock.timezone, clock.utc_offset_minutes)))
    for r in ROLLUPS:
        out.append((f"DELETE FROM {r.table}", ()))
        out.append((recount(counted(r, engine)), ()))
    return out


async def rebuild(conn: aiosqlite.Connection, clock: Clock | None = None) -> None:
    """Recount every rollup; run it inside a write transaction (``Database.write``)."""
    for sql, params in rebuild_statements(clock, engine_of(conn)):
        await conn.execute(sql, params)


def rebuild_sync(conn: sqlite3.Connection, clock: Clock | None = None) -> None:
    for sql, params in rebuild_statements(clock):
        conn.execute(sql, params)


def _nonzero(r: Rollup, table: str) -> str:
    cols = ", ".join((*r.keys, *r.measure_names))
    nonzero = " OR ".join(f"{m} != 0" for m in r.measure_names)
    return f"SELECT {cols} FROM {table} WHERE {nonzero}"


def difference_sql(r: Rollup, fresh: str) -> str:
    """Rows where the kept rollup and a fresh recount (the table ``fresh``) disagree."""
    kept, recounted = _nonzero(r, r.table), _nonzero(r, fresh)
    return f"SELECT 'kept', * FROM ({kept} EXCEPT {recounted})" \
           f" UNION ALL SELECT 'fresh', * FROM ({recounted} EXCEPT {kept})"


async def differences(
    conn: aiosqlite.Connection, limit: int = 20
) -> dict[str, list[tuple[object, ...]]]:
    """Recount into temp tables and list where the rollups differ ({} when they agree).

    Run it inside a write transaction (``Database.write``): the recount and the rollups
    it is compared with are then one moment's, whichever controller writes next."""
    engine = engine_of(conn)
    temp = TEMP_SCHEMA[engine]
    fresh = {r.table: f"{temp}.fresh_{r.table}" for r in ROLLUPS}
    out: dict[str, list[tuple[object, ...]]] = {}
    for r in ROLLUPS:
        await conn.execute(f"DROP TABLE IF EXISTS {fresh[r.table]}")
        await conn.execute(f"CREATE TEMP TABLE fresh_{r.table} AS"
                           f" SELECT * FROM {r.table} LIMIT 0")
        await conn.execute(recount(counted(r, engine), fresh[r.table], fresh["rollup_day"]))
        async with conn.execute(difference_sql(r, fresh[r.table]) + f" LIMIT {int(limit)}"
                                ) as cur:
            rows = [tuple(row) for row in await cur.fetchall()]
        if rows:
            out[r.table] = rows
    for r in ROLLUPS:
        await conn.execute(f"DROP TABLE {fresh[r.table]}")
    return out


# --- bulk loads ----------------------------------------------------------------------


@asynccontextmanager
async def triggers_off(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """Inside one write transaction: turn the rollup triggers off, let the caller insert
    in bulk, then recount every rollup and turn the triggers back on as they were.

    SQLite drops them and creates them again from their text; PostgreSQL disables and
    enables them (``ALTER TABLE`` locks out other writers, never readers, until the
    commit). A failure anywhere rolls the whole transaction back, triggers included.
    """
    if engine_of(conn) == "postgresql":
        async with conn.execute(PG_TRIGGERS_SQL) as cur:
            found = [(str(table), str(name)) for table, name in await cur.fetchall()]
        for table, name in found:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        yield
        await rebuild(conn)
        for table, name in found:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
        return
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

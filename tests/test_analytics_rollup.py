"""The rollups kept by triggers always equal a full recount, whatever writes the reports.

Random inserts (the IVR flow's store calls, manual entries, hand-written SQL), location
and state changes, callbacks, edits of the time, type, zone and channel, and
deletions, then: the kept rollups equal a recount from the reports, row for row. On
both engines: the hand-written statements go through the store's writer (``Hand``),
so SQLite and PostgreSQL run the same text.

Deleting a report: the store never does, and ``events`` rows reference their report
and are append-only, so the foreign keys refuse to delete a report anyone refers to
(its events, notes, a duplicate of it). The test tries to delete reports at random:
the ones written by hand without events go, the others stay, and a refused delete
must leave the rollups as they were (its trigger ran before the refusal).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import pytest

from ivr.config import Settings
from ivr.core.ports import Location, NewReport
from ivr.domain.municipalities import first_id
from ivr.domain.reports import TRANSITIONS, ReportState
from ivr.domain.roles import Intake
from ivr.store import engine as store_engine
from ivr.store import rollup
from ivr.store.analytics_schema import BY_NAME
from ivr.store.casework import CaseError, Casework, ManualReport
from ivr.store.db import Database, _migrations
from ivr.store.municipalities import Municipalities
from ivr.store.numbers import next_free_number
from ivr.store.reports import Reports, iso

pytestmark = pytest.mark.store

TYPES = ("robbery", "noise", "suspicious", "accident", "other", "emergency")
STATES = [s.value for s in ReportState]


class Clock:
    """A clock the test moves: reports land on any day, at month and midnight edges too."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.moment = datetime(2024, 1, 1, tzinfo=UTC)

    def jump(self) -> None:
        base = datetime(2023, 11, 28, tzinfo=UTC)
        if self.rng.random() < 0.3:  # just around a local midnight at a month's end
            day = base + timedelta(days=self.rng.choice([3, 34, 64, 95, 400]))
            self.moment = day + timedelta(hours=5, seconds=self.rng.randint(-90, 90))
        else:
            self.moment = base + timedelta(seconds=self.rng.randrange(500 * 86400))

    def __call__(self) -> datetime:
        return self.moment


async def differences(db: Database) -> dict[str, list[tuple[object, ...]]]:
    async def op(conn: aiosqlite.Connection) -> dict[str, list[tuple[object, ...]]]:
        return await rollup.differences(conn)

    return await db.write(op)


class Hand:
    """Statements no store module makes (an operator's by hand, a script's), run through
    the store's writer so either engine runs them; the triggers must count them alike."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, sql: str, params: Sequence[object] = ()) -> None:
        async def op(conn: aiosqlite.Connection) -> None:
            await conn.execute(sql, params)

        await self.db.write(op)

    async def insert(self, municipality: int = 1, **columns: object) -> int:
        """A report row as given, numbered as the store numbers reports (the next free id)."""

        async def op(conn: aiosqlite.Connection) -> int:
            report = await next_free_number(conn, municipality)
            names = ("id", "municipality_id", *columns)
            await conn.execute(f"INSERT INTO reports ({', '.join(names)})"
                               f" VALUES ({', '.join('?' * len(names))})",
                               (report, municipality, *columns.values()))
            return report

        return await self.db.write(op)

    async def delete(self, report: int) -> bool:
        """False when something refers to the report: the foreign keys refuse, nothing goes."""
        try:
            await self.run("DELETE FROM reports WHERE id = ?", (report,))
        except sqlite3.IntegrityError:
            return False
        return True

    async def value(self, sql: str, params: Sequence[object] = ()) -> Any:
        row = await self.db.fetchone(sql, params)
        return None if row is None else row[0]

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.db.fetchall(sql, params)]


async def test_rollups_equal_a_recount_after_random_writes(settings: Settings) -> None:
    rng = random.Random(20240607)
    clock = Clock(rng)
    async with store_engine.database(settings.database) as db:
        reports = Reports(db, clock, settings.callback_deadlines())
        casework = Casework(db, clock, settings.callback_deadlines())
        hand = Hand(db)
        ids: list[int] = []
        deleted = refused = 0

        async def ivr_report() -> None:
            clock.jump()
            number = await reports.open_report(NewReport(
                type_id=rng.choice(TYPES), priority=rng.randint(1, 6), emergency=False,
                language="es", caller=rng.choice([None, "987654321"]), caller_id_raw=None,
                call_id="c1"))
            ids.append(number)
            if rng.random() < 0.7:
                located = rng.random() < 0.6
                await reports.set_location(number, Location(
                    zone=str(rng.randint(1, 14)), address="", source="keypad",
                    lat=-12.12 + rng.uniform(-0.015, 0.015) if located else None,
                    lon=-77.03 + rng.uniform(-0.02, 0.02) if located else None))
            await reports.close_call(number, complete=rng.random() < 0.8, outcome="completed",
                                     last_step=None)

        async def manual_report() -> None:
            clock.jump()
            number = await casework.file_manual(ManualReport(
                type_id=rng.choice(TYPES), priority=3, channel=rng.choice(list(Intake)),
                summary="reporte de prueba", caller=rng.choice([None, "912345678"]),
                zone=rng.choice([None, "3", "14"])), "user:ana")
            ids.append(number)

        async def change_state() -> None:
            if not ids:
                return
            number = rng.choice(ids)
            state = await hand.value("SELECT state FROM reports WHERE id = ?", (number,))
            if state is None:
                return
            allowed = sorted(TRANSITIONS[ReportState(state)])
            if not allowed:
                return
            target = rng.choice(allowed)
            clock.moment += timedelta(seconds=rng.randint(5, 20000))
            try:
                await casework.change_state(
                    number, target, "user:ana", unit="SZ-1" if target is ReportState.DISPATCHED
                    else "", duplicate_of=rng.choice(ids) if target is ReportState.DUPLICATE
                    else None)
            except (CaseError, LookupError):
                pass  # refused (a duplicate of a duplicate, of itself): nothing changed

        async def hand_update() -> None:
            if not ids:
                return
            number = rng.choice(ids)
            column, value = rng.choice([
                ("type", rng.choice(TYPES)), ("zone", rng.choice([None, "", "5", "9"])),
                ("channel", rng.choice(["ivr", "radio", "pos"])),
                ("state", rng.choice(STATES)),
                ("created_at", iso(datetime(2024, 2, 29, 4, 59, 59, tzinfo=UTC)
                                   + timedelta(seconds=rng.randint(0, 3)))),
                ("first_action_at", rng.choice([None, iso(clock() + timedelta(minutes=3))])),
                ("callback_done_at", rng.choice([None, iso(clock() + timedelta(hours=30)),
                                                 iso(clock() - timedelta(days=400))])),
                ("callback_due_at", rng.choice([None, iso(clock())])),
                ("lat", rng.choice([None, -12.1, 91.0])),
                ("updated_at", iso(clock())),  # not counted: the triggers must let it by
            ])
            await hand.run(f"UPDATE reports SET {column} = ? WHERE id = ?", (value, number))

        async def hand_insert() -> None:
            clock.jump()
            ids.append(await hand.insert(
                type=rng.choice(TYPES), priority=2, state=rng.choice(STATES),
                channel=rng.choice(["ivr", "field"]), zone=rng.choice([None, "2"]),
                lat=-12.125, lon=-77.035, created_at=iso(clock()), updated_at=iso(clock()),
                first_action_at=iso(clock() + timedelta(
                    seconds=rng.choice([30, 59, 60, 299, 3600, 90000]))),
                callback_due_at=iso(clock() + timedelta(minutes=15))))

        async def hand_delete() -> None:
            nonlocal deleted, refused
            if not ids:
                return
            at = rng.randrange(len(ids))
            if await hand.delete(ids[at]):
                ids.pop(at)
                deleted += 1
            else:
                refused += 1

        async def bulk_update() -> None:  # one statement, many rows: the triggers fire per row
            await hand.run("UPDATE reports SET state = 'resolved', callback_done_at = ?"
                           " WHERE id % 7 = ?", (iso(clock()), rng.randrange(7)))

        steps: list[tuple[float, Callable[[], Any]]] = [
            (0.25, ivr_report), (0.12, manual_report), (0.2, change_state), (0.2, hand_update),
            (0.1, hand_insert), (0.08, hand_delete), (0.05, bulk_update),
        ]
        for n in range(1200):
            pick = rng.random()
            for weight, step in steps:
                if pick < weight:
                    await step()
                    break
                pick -= weight
            if n % 300 == 299:
                assert await differences(db) == {}, f"after step {n}"
        count = await hand.value("SELECT count(*) FROM reports")
        assert count > 150
        assert deleted > 5 and refused > 5, (deleted, refused)  # both kinds were tried
        assert await differences(db) == {}
        # The day rollup holds every report exactly once (deleted ones are gone).
        assert await hand.value("SELECT sum(n) FROM rollup_day") == count


# Every column a report is counted by, with a value that moves it somewhere else.
MOVES = [
    ("type", "accident"), ("zone", "9"), ("zone", None), ("channel", "radio"),
    ("state", "false_report"), ("created_at", "2024-04-01T04:59:00.000+00:00"),
    ("first_action_at", "2024-03-15T12:10:00.000+00:00"), ("first_action_at", None),
    ("callback_due_at", None), ("callback_due_at", "2024-03-15T12:01:00.000+00:00"),
    ("callback_done_at", "2024-03-15T12:30:00.000+00:00"), ("callback_done_at", None),
    ("lat", None), ("lat", -12.13), ("lon", -77.02), ("state", "handed_over"),
]


async def test_each_counted_column_alone_keeps_the_rollups_right(settings: Settings) -> None:
    async with store_engine.database(settings.database) as db:
        hand = Hand(db)
        report = await hand.insert(
            type="noise", priority=5, state="received", channel="ivr", zone="4", lat=-12.11,
            lon=-77.04, created_at="2024-03-15T12:00:00.000+00:00", updated_at="x",
            first_action_at="2024-03-15T12:02:00.000+00:00",
            callback_due_at="2024-03-15T13:00:00.000+00:00",
            callback_done_at="2024-03-15T12:20:00.000+00:00")
        assert report == 1
        for column, value in MOVES:
            await hand.run(f"UPDATE reports SET {column} = ?", (value,))
            assert await differences(db) == {}, (column, value)
        with pytest.raises(sqlite3.IntegrityError, match="stays in its municipality"):
            await hand.run("UPDATE reports SET id = 777")  # ids never move (history, clips...)
        await hand.run("DELETE FROM reports")
        assert await differences(db) == {}
        assert await hand.value("SELECT count(*) FROM rollup_day WHERE n != 0") == 0


async def test_changing_the_clock_and_rebuilding_moves_reports_between_days(
        settings: Settings) -> None:
    async with store_engine.database(settings.database) as db:
        hand = Hand(db)
        # 03:30 UTC on 1 March is 22:30 on 28 February in Lima (UTC-5).
        await hand.insert(type="noise", priority=5, created_at="2024-03-01T03:30:00.000+00:00",
                          updated_at="x")
        assert await hand.rows("SELECT day, h22 FROM rollup_day") == [("2024-02-29", 1)]

        async def utc(conn: aiosqlite.Connection) -> None:
            await rollup.rebuild(conn, rollup.Clock("UTC", 0))

        await db.write(utc)
        assert await hand.rows("SELECT day, h03 FROM rollup_day WHERE n > 0") == [
            ("2024-03-01", 1)]
        assert await hand.rows("SELECT month FROM rollup_month WHERE n > 0") == [("2024-03",)]
        assert await differences(db) == {}


def test_a_time_zone_becomes_its_standard_offset() -> None:
    assert rollup.clock_for("America/Lima").utc_offset_minutes == -300
    assert rollup.clock_for("Europe/Madrid").utc_offset_minutes == 60  # not summer's +120
    assert rollup.clock_for("UTC").utc_offset_minutes == 0


def _raw(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.database, isolation_level=None, timeout=10)


@pytest.mark.sqlite  # a SQLite file as an older version left it
async def test_the_migration_counts_reports_that_were_there_before(settings: Settings) -> None:
    """An existing database gets its rollups filled, per municipality, when migration 009
    runs (the database as 008 left it: reports, rollups of the old shape)."""
    async with Database(settings.database):
        pass
    raw = _raw(settings)
    for name in [r[0] for r in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'analytics%'")]:
        raw.execute(f"DROP TRIGGER {name}")
    for table in ("rollup_day", "rollup_month", "rollup_weekhour", "rollup_cell"):
        raw.execute(f"DROP TABLE {table}")
        raw.execute(f"CREATE TABLE {table} (x)")  # 009 drops them, whatever their shape
    raw.execute("DROP VIEW report_facts")
    raw.execute("CREATE VIEW report_facts AS SELECT 1")
    raw.execute("DELETE FROM schema_migrations WHERE version = 9")
    raw.executemany("INSERT INTO reports (type, priority, zone, lat, lon, created_at, updated_at)"
                    " VALUES (?, 2, '4', -12.11, -77.04, ?, 'x')",
                    [("robbery", f"2024-05-{d:02d}T12:00:00.000+00:00") for d in range(1, 21)])
    raw.close()
    async with Database(settings.database) as db:
        assert await differences(db) == {}
        row = await db.fetchone("SELECT sum(n) FROM rollup_month")
        assert row is not None and row[0] == 20
        cells = await db.fetchone("SELECT sum(n) FROM rollup_cell")
        assert cells is not None and cells[0] == 20


def test_migration_009_is_what_the_schema_generates() -> None:
    """The rollups' migration was generated from the one definition the recount uses."""
    from pathlib import Path

    from ivr.store import analytics_schema

    path = Path(analytics_schema.__file__).parent / "migrations" / "009_rollups_by_municipality.sql"
    assert path.read_text(encoding="utf-8") == analytics_schema.migration()


# --- two municipalities, each on its own clock -------------------------------------------

TOKYO = 540  # UTC+9: far enough from Lima (UTC-5) that most reports fall on another day


async def test_the_same_moment_is_each_municipalitys_own_day_and_hour(
        settings: Settings) -> None:

    async with store_engine.database(settings.database) as db:
        await Municipalities(db).add("tokio", "Tokio", "Asia/Tokyo", actor="test")
        hand = Hand(db)
        # 03:30 UTC on 1 March: 22:30 on 29 February in Lima, 12:30 on 1 March in Tokyo.
        moment = "2024-03-01T03:30:00.000+00:00"
        for town in (1, 2):
            await hand.insert(town, type="noise", priority=5, created_at=moment, updated_at="x")
        rows = await hand.rows("SELECT municipality_id, day, h22, h12 FROM rollup_day"
                               " WHERE n > 0 ORDER BY municipality_id")
        assert rows == [(1, "2024-02-29", 1, 0), (2, "2024-03-01", 0, 1)]
        months = await hand.rows("SELECT municipality_id, month, weekday FROM rollup_weekhour"
                                 " WHERE n > 0 ORDER BY municipality_id")
        assert months == [(1, "2024-02", 4), (2, "2024-03", 5)]  # Thursday; Friday

        # `alerta stats rebuild` with the settings' time zone moves municipality 1 only.
        async def utc(conn: aiosqlite.Connection) -> None:
            await rollup.rebuild(conn, rollup.Clock("UTC", 0))

        await db.write(utc)
        rows = await hand.rows("SELECT municipality_id, day, h03, h12 FROM rollup_day"
                               " WHERE n > 0 ORDER BY municipality_id")
        assert rows == [(1, "2024-03-01", 1, 0), (2, "2024-03-01", 0, 1)]
        assert await differences(db) == {}


def _table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]


@pytest.mark.sqlite  # a SQLite file as migration 008 left it
async def test_migrating_a_database_of_two_municipalities_keeps_every_total(
        settings: Settings) -> None:
    """A real database as migration 008 left it (rollups of 004's shape, kept by 004's
    triggers on one clock), with reports in two municipalities: after 009 every measure
    adds up to what it did, and each municipality holds its own reports on its clock."""

    conn = sqlite3.connect(settings.database, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " applied_at TEXT NOT NULL)")
    for version, sql in _migrations():
        if version < 9:
            conn.executescript(f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES"
                               f" ({version}, datetime('now'));\nCOMMIT;")
    conn.execute("INSERT INTO municipalities (id, code, name, timezone, utc_offset_minutes,"
                 " jurisdiction_id, created_at) VALUES (2, 'tokio', 'Tokio', 'Asia/Tokyo', 540,"
                 " 'tokio', 'x')")
    rng = random.Random(9)
    rows = []
    for n in range(400):
        town = 1 if n % 3 else 2
        created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(90 * 86400))
        rows.append((first_id(town) + n, town, rng.choice(TYPES),
                     rng.choice(["received", "resolved", "false_report"]), rng.choice(["", "4"]),
                     rng.choice([None, -12.11]), -77.04, iso(created), iso(created),
                     iso(created + timedelta(seconds=rng.choice([40, 400, 4000]))),
                     iso(created + timedelta(minutes=30)),
                     rng.choice([None, iso(created + timedelta(minutes=20))])))
    conn.executemany(
        "INSERT INTO reports (id, municipality_id, type, state, zone, lat, lon, created_at,"
        " updated_at, first_action_at, callback_due_at, callback_done_at, priority)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3)", rows)
    old_columns = {t: _table_columns(conn, t) for t in BY_NAME}
    assert "municipality_id" not in old_columns["rollup_day"]  # the old shape, for real
    # What does not depend on the clock (the hours do: Tokyo's reports move to theirs).
    measures = {t: [c for c in old_columns[t] if c in BY_NAME[t].measure_names
                    and not c.startswith("h")] for t in old_columns}
    before = {t: conn.execute(f"SELECT {', '.join(f'sum({m})' for m in ms)} FROM {t}").fetchone()
              for t, ms in measures.items()}
    assert before["rollup_day"][0] == 400
    conn.close()

    async with Database(settings.database) as db:  # runs 009
        assert await differences(db) == {}
        for table, ms in measures.items():
            row = await db.fetchone(f"SELECT {', '.join(f'sum({m})' for m in ms)} FROM {table}")
            assert row is not None and tuple(row) == tuple(before[table]), table
        for town in (1, 2):
            row = await db.fetchone("SELECT sum(n) FROM rollup_month WHERE municipality_id = ?",
                                    (town,))
            assert row is not None and row[0] == sum(1 for r in rows if r[1] == town), town
        hours = " + ".join(f"h{h:02d}" for h in range(24))
        row = await db.fetchone(f"SELECT sum({hours}), sum(n) FROM rollup_weekhour")
        assert row is not None and row[0] == row[1] == 400
        tokyo_days = {r[0] for r in await db.fetchall(
            "SELECT day FROM rollup_day WHERE municipality_id = 2 AND n > 0")}
        expected = {(datetime.fromisoformat(r[7]) + timedelta(minutes=TOKYO)).date().isoformat()
                    for r in rows if r[1] == 2}
        assert tokyo_days == expected

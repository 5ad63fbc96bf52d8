"""The rollups with more than one writer at work: two municipalities on their own clocks,
a bulk load with the triggers off, and two controllers writing to one database at once.

Two controllers are two stores opened on one database (on PostgreSQL two ``PgDatabase``,
each with its own writer connection and readers, as two processes have them; on SQLite
two ``Database`` on one file), each taking calls, moving either's reports along, one of
them recounting meanwhile: afterwards every report is counted once, and the rollups
equal a recount.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import aiosqlite
import pytest

from ivr.config import Settings
from ivr.core.ports import Location, NewReport
from ivr.domain.reports import TRANSITIONS, ReportState
from ivr.domain.roles import Intake
from ivr.store import engine as store_engine
from ivr.store import rollup
from ivr.store.casework import CaseError, Casework, ManualReport
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities
from ivr.store.reports import Reports, iso
from tests.test_analytics_rollup import STATES, TOKYO, TYPES, Clock, Hand, differences

pytestmark = pytest.mark.store

CALLS_AT_ONCE = 10  # per controller
REPORTS_EACH = 300


async def test_two_municipalities_on_their_own_clocks_equal_a_recount(
        settings: Settings) -> None:
    """Random writes in Lima's and Tokyo's municipalities: the kept rollups equal a recount,
    each report is counted once, under its own municipality, on its municipality's clock."""

    rng = random.Random(20251104)
    clock = Clock(rng)
    async with store_engine.database(settings.database) as db:
        tokyo = await Municipalities(db).add("tokio", "Tokio", "Asia/Tokyo", actor="test")
        assert (tokyo.id, tokyo.utc_offset_minutes) == (2, TOKYO)
        reports = Reports(db, clock, settings.callback_deadlines())
        casework = Casework(db, clock, settings.callback_deadlines())
        hand = Hand(db)
        ids: list[int] = []
        deleted = 0

        for n in range(700):
            town = rng.choice((1, 2))
            pick = rng.random()
            if pick < 0.3:
                clock.jump()
                ids.append(await reports.open_report(NewReport(
                    type_id=rng.choice(TYPES), priority=3, emergency=False, language="es",
                    caller=None, caller_id_raw=None, call_id="c", municipality=town)))
            elif pick < 0.45:
                clock.jump()
                ids.append(await casework.file_manual(ManualReport(
                    type_id=rng.choice(TYPES), priority=3, channel=rng.choice(list(Intake)),
                    summary="prueba", zone=rng.choice([None, "3"]), municipality=town),
                    "user:ana"))
            elif pick < 0.65:
                clock.jump()
                ids.append(await hand.insert(
                    town, type=rng.choice(TYPES), priority=2, state="received", channel="ivr",
                    zone="2", lat=-12.125, lon=139.7 if town == 2 else -77.035,
                    created_at=iso(clock()), updated_at=iso(clock()),
                    first_action_at=iso(clock() + timedelta(seconds=rng.choice([30, 600, 90000]))),
                    callback_due_at=iso(clock() + timedelta(minutes=15))))
            elif ids and pick < 0.9:
                number = rng.choice(ids)
                column, value = rng.choice([
                    ("type", rng.choice(TYPES)), ("state", rng.choice(STATES)),
                    ("created_at", iso(datetime(2024, 2, 29, 14, 59, 59, tzinfo=UTC)
                                       + timedelta(seconds=rng.randint(0, 3)))),
                    ("callback_done_at", iso(clock())), ("zone", rng.choice([None, "7"])),
                ])
                await hand.run(f"UPDATE reports SET {column} = ? WHERE id = ?", (value, number))
            elif ids:
                at = rng.randrange(len(ids))
                if await hand.delete(ids[at]):  # refused when its events refer to it
                    ids.pop(at)
                    deleted += 1
            if n % 350 == 349:
                assert await differences(db) == {}, f"after step {n}"
        assert await differences(db) == {}
        assert deleted > 5
        for town in (1, 2):
            count = await hand.value("SELECT count(*) FROM reports WHERE municipality_id = ?",
                                     (town,))
            kept = await hand.value("SELECT sum(n) FROM rollup_day WHERE municipality_id = ?",
                                    (town,))
            assert count > 100 and kept == count, town


async def test_a_bulk_load_with_the_triggers_off_is_recounted_and_turns_them_on_again(
        settings: Settings) -> None:
    """``triggers_off`` (the demo's and the benchmarks' load): rows inserted meanwhile are
    counted by the recount, the triggers count again afterwards, and a load that fails
    leaves the triggers and the rollups as they were."""
    async with store_engine.database(settings.database) as db:
        hand = Hand(db)
        await hand.insert(type="noise", priority=5, created_at="2024-03-01T12:00:00.000+00:00",
                          updated_at="x")

        async def load(conn: aiosqlite.Connection, *, fail: bool = False) -> int:
            async with rollup.triggers_off(conn):
                for n in range(2, 42):
                    await conn.execute(
                        "INSERT INTO reports (id, type, priority, zone, created_at, updated_at)"
                        " VALUES (?, 'robbery', 2, '3', ?, 'x')",
                        (n, f"2024-03-{n % 28 + 1:02d}T15:00:00.000+00:00"))
                if fail:
                    raise RuntimeError("the load broke off")
            return 40

        async def failing(conn: aiosqlite.Connection) -> int:
            return await load(conn, fail=True)

        with pytest.raises(RuntimeError, match="broke off"):
            await db.write(failing)
        assert await hand.value("SELECT count(*) FROM reports") == 1
        assert await hand.value("SELECT sum(n) FROM rollup_day") == 1
        assert await db.write(load) == 40
        assert await hand.value("SELECT sum(n) FROM rollup_month WHERE type = 'robbery'") == 40
        assert await differences(db) == {}
        await hand.insert(type="robbery", priority=2, created_at="2024-03-02T15:00:00.000+00:00",
                          updated_at="x")  # counted by the triggers, on again
        assert await hand.value("SELECT sum(n) FROM rollup_day") == 42
        await hand.run("UPDATE reports SET zone = '9' WHERE id = 2")
        assert await differences(db) == {}


async def _controller(db: Database, name: str, seed: int, settings: Settings,
                      ids: list[int], halfway: asyncio.Event) -> list[int]:
    """Calls at once on one controller: each opens reports, locates and closes them, and
    moves a report along (its own or the other controller's); the numbers it handed out."""
    rng = random.Random(seed)
    clock = Clock(rng)
    reports = Reports(db, clock, settings.callback_deadlines())
    casework = Casework(db, clock, settings.callback_deadlines())
    mine: list[int] = []

    async def calls(line: int) -> None:
        for n in range(REPORTS_EACH // CALLS_AT_ONCE):
            clock.jump()
            number = await reports.open_report(NewReport(
                type_id=rng.choice(TYPES), priority=rng.randint(1, 6), emergency=False,
                language="es", caller=rng.choice([None, "987654321"]), caller_id_raw=None,
                call_id=f"{name}-{line}-{n}"))
            mine.append(number)
            ids.append(number)
            if len(ids) >= REPORTS_EACH:
                halfway.set()
            if rng.random() < 0.8:
                located = rng.random() < 0.6
                await reports.set_location(number, Location(
                    zone=str(rng.randint(1, 14)), address="", source="keypad",
                    lat=-12.12 + rng.uniform(-0.015, 0.015) if located else None,
                    lon=-77.03 + rng.uniform(-0.02, 0.02) if located else None))
            await reports.close_call(number, complete=rng.random() < 0.8, outcome="completed",
                                     last_step=None)
            for report in (number, rng.choice(ids)):  # its own, then anyone's
                await _move_along(casework, report, rng, ids)

    await asyncio.gather(*(calls(line) for line in range(CALLS_AT_ONCE)))
    return mine


async def _move_along(casework: Casework, report: int, rng: random.Random,
                      ids: list[int]) -> None:
    state = (await casework.db.fetchone("SELECT state FROM reports WHERE id = ?", (report,)))
    allowed = sorted(TRANSITIONS[ReportState(state[0])]) if state else []
    if not allowed:
        return
    target = rng.choice(allowed)
    try:  # the other controller may have moved it meanwhile: then it is refused, unchanged
        await casework.change_state(
            report, target, "user:ana", unit="SZ-1" if target is ReportState.DISPATCHED
            else "", duplicate_of=rng.choice(ids) if target is ReportState.DUPLICATE else None)
    except (CaseError, LookupError):
        pass


async def test_two_controllers_writing_at_once_keep_the_rollups_right(
        settings: Settings, engine: str) -> None:
    async with store_engine.database(settings.database) as one, \
            store_engine.database(settings.database) as two:
        assert one is not two
        assert {getattr(db, "engine", "sqlite") for db in (one, two)} == {engine}
        ids: list[int] = []
        halfway = asyncio.Event()

        async def recount_meanwhile() -> None:  # half-way through, by the second controller
            await halfway.wait()

            async def op(conn: aiosqlite.Connection) -> None:
                await rollup.rebuild(conn)

            await two.write(op)

        first, second, _ = await asyncio.gather(
            _controller(one, "one", 1, settings, ids, halfway),
            _controller(two, "two", 2, settings, ids, halfway), recount_meanwhile())
        assert len(first) == len(second) == REPORTS_EACH
        assert len(set(first) | set(second)) == 2 * REPORTS_EACH  # no number handed out twice
        hand = Hand(one)
        assert await hand.value("SELECT count(*) FROM reports") == 2 * REPORTS_EACH
        states = dict(await hand.rows("SELECT state, count(*) FROM reports GROUP BY state"))
        assert len(states) >= 4 and states.get("received", 0) < 2 * REPORTS_EACH, states
        assert await differences(one) == {}
        assert await differences(two) == {}  # the same database, seen from the other one
        assert await hand.value("SELECT sum(n) FROM rollup_day") == 2 * REPORTS_EACH
        assert await hand.value("SELECT sum(st_received) + sum(st_acknowledged)"
                                " + sum(st_dispatched) FROM rollup_month") == sum(
            states.get(s, 0) for s in ("received", "acknowledged", "dispatched"))

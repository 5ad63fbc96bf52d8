"""Every dashboard panel against counts made directly from the reports, in Python.

A seeded set of reports over two years (all types, zones, channels, states,
first actions, callbacks, located or not, some right at local midnight and at
month ends) and ranges that start and end inside months, cover whole months
only, or sit inside one month; with and without type, zone and channel filters.
The direct counts here share nothing with the rollups but the definitions.
A second municipality (Tokyo's clock) holds reports of its own in the same tables:
each municipality's panels count its reports alone, on its own clock.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ivr.domain.municipalities import first_id
from ivr.store import panels
from ivr.store.db import Database
from ivr.store.municipalities import Municipalities
from ivr.store.panels import Filters
from ivr.store.reports import iso
from ivr.store.rollup import Clock

LIMA = Clock("America/Lima", -300)
TOKYO = Clock("Asia/Tokyo", 540)
CLOCKS = {1: LIMA, 2: TOKYO}
NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
TYPES = ("robbery", "noise", "suspicious", "accident", "other")
CHANNELS = ("ivr", "phone", "radio", "field", "counter", "email", "pos")
STATES = ("received", "acknowledged", "dispatched", "on_scene", "resolved", "false_report",
          "duplicate", "handed_over")
BOUNDS = (60, 300, 900, 3600, 14400, 86400)


@dataclass
class Row:
    type: str
    zone: str  # "" for none
    channel: str
    state: str
    created: datetime
    first_action: datetime | None
    due: datetime | None
    done: datetime | None
    lat: float | None
    lon: float | None
    town: int = 1

    @property
    def local(self) -> datetime:
        return self.created + CLOCKS[self.town].offset

    @property
    def fa_s(self) -> int | None:
        if self.first_action is None:
            return None
        return max(0, int((self.first_action - self.created).total_seconds()))


def make_rows(n: int, seed: int = 11, town: int = 1) -> list[Row]:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, 5, tzinfo=UTC) - CLOCKS[town].offset - timedelta(hours=5)
    rows = []
    for _ in range(n):
        if rng.random() < 0.1:  # at a local midnight, often a month's last or first
            day = start + timedelta(days=rng.choice([30, 31, 58, 59, 364, 365, 424, 425, 790]))
            created = day + timedelta(seconds=rng.randint(-3, 3))
        else:
            created = start + timedelta(seconds=rng.randrange(800 * 86400))
        fa = created + timedelta(seconds=rng.choice([0, 30, 59, 60, 299, 300, 899, 900, 3599,
                                                     3600, 20000, 86399, 86400, 200000]))
        due = created + timedelta(minutes=rng.choice([15, 60, 1440]))
        done_roll = rng.random()
        done = (None if done_roll < 0.2 else due - timedelta(minutes=5) if done_roll < 0.8
                else due + timedelta(minutes=10))
        located = rng.random() < 0.6
        rows.append(Row(
            type=rng.choice(TYPES), zone=rng.choice(["", *map(str, range(1, 15))]),
            channel=rng.choice(CHANNELS), state=rng.choice(STATES), created=created,
            first_action=fa if rng.random() < 0.85 else None,
            due=due if rng.random() < 0.7 else None, done=done,
            lat=round(-12.135 + rng.random() * 0.03, 6) if located else None,
            lon=round(-77.055 + rng.random() * 0.045, 6) if located else None, town=town))
    # A few callbacks owed, not made, and not yet due at NOW.
    for minutes in (5, 50, 500):
        created = NOW - timedelta(minutes=10)
        rows.append(Row("robbery", "3", "ivr", "received", created, None,
                        NOW + timedelta(minutes=minutes), None, None, None, town))
    return rows


def insert(path: str, rows: list[Row]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO reports (id, municipality_id, type, priority, state, channel, zone, lat,"
        " lon, created_at, updated_at, first_action_at, callback_due_at, callback_done_at)"
        " VALUES (?, ?, ?, 3, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(first_id(r.town) + n, r.town, r.type, r.state, r.channel, r.zone or None, r.lat,
          r.lon, iso(r.created), iso(r.created), iso(r.first_action) if r.first_action else None,
          iso(r.due) if r.due else None, iso(r.done) if r.done else None)
         for n, r in enumerate(rows)])
    conn.execute("COMMIT")
    conn.close()


def chosen(rows: list[Row], f: Filters) -> Iterator[Row]:
    for r in rows:
        if r.town not in f.municipalities:
            continue
        if not (f.since <= r.local.date() < f.until):
            continue
        if f.types and r.type not in f.types:
            continue
        if f.zones and r.zone not in f.zones:
            continue
        if f.channels and r.channel not in f.channels:
            continue
        yield r


FILTERS = [
    Filters(date(2023, 1, 1), date(2025, 4, 1)),  # everything
    Filters(date(2023, 3, 17), date(2024, 11, 3)),  # partial months at both ends
    Filters(date(2024, 2, 1), date(2024, 3, 1)),  # one whole month (a leap February)
    Filters(date(2024, 5, 9), date(2024, 5, 23)),  # inside one month
    Filters(date(2023, 12, 31), date(2024, 1, 2)),  # across a year's end
    Filters(date(2023, 6, 1), date(2025, 1, 1), types=("robbery", "noise")),
    Filters(date(2023, 6, 15), date(2024, 9, 20), zones=("3", "", "14")),
    Filters(date(2023, 1, 1), date(2025, 4, 1), channels=("pos", "radio"),
            types=("suspicious",), zones=("7",)),
    Filters(date(2024, 7, 1), date(2024, 7, 1)),  # empty
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Row]]:
    """One database for the module (through the real migrations), read by every test."""
    path = tmp_path_factory.mktemp("panels") / "alerta.sqlite3"

    async def migrate() -> None:
        async with Database(path) as db:
            await Municipalities(db).add("tokio", "Tokio", "Asia/Tokyo", actor="test")

    asyncio.run(migrate())
    rows = make_rows(2500) + make_rows(1500, seed=12, town=2)
    insert(str(path), rows)
    return path, rows


@pytest.fixture
async def data(dataset: tuple[Path, list[Row]]) -> tuple[Database, list[Row]]:
    return await Database(dataset[0]).open(), dataset[1]


@pytest.mark.parametrize("town", [1, 2])
@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f"{f.since}..{f.until}")
async def test_counts_by_type_year_month_weekday_hour_zone_channel(
        data: tuple[Database, list[Row]], f: Filters, town: int) -> None:
    db, rows = data
    f = replace(f, municipalities=(town,))
    try:
        picked = list(chosen(rows, f))
        type_year: dict[str, dict[str, int]] = {}
        for r in picked:
            cell = type_year.setdefault(r.type, {})
            cell[str(r.local.year)] = cell.get(str(r.local.year), 0) + 1
        assert await panels.type_year(db, f) == type_year
        by_month: dict[str, dict[str, int]] = {}
        for r in picked:
            month = by_month.setdefault(r.local.strftime("%Y-%m"), {})
            month[r.type] = month.get(r.type, 0) + 1
        assert await panels.by_month(db, f) == by_month
        assert await panels.by_type(db, f) == dict(Counter(r.type for r in picked))
        assert await panels.by_zone(db, f) == dict(Counter(r.zone for r in picked))
        assert await panels.by_channel(db, f) == dict(Counter(r.channel for r in picked))
        weekdays = Counter(r.local.weekday() for r in picked)
        assert await panels.by_weekday(db, f) == [weekdays[d] for d in range(7)]
        hours = Counter(r.local.hour for r in picked)
        assert await panels.by_hour(db, f) == [hours[h] for h in range(24)]
        grid = Counter((r.local.weekday(), r.local.hour) for r in picked)
        assert await panels.weekday_hour(db, f) == [[grid[(d, h)] for h in range(24)]
                                                    for d in range(7)]
        zone_hour: dict[str, list[int]] = {}
        for r in picked:
            zone_hour.setdefault(r.zone, [0] * 24)[r.local.hour] += 1
        assert await panels.zone_hour(db, f) == dict(sorted(zone_hour.items()))
        citizen = {"ivr", "phone", "counter", "email"}
        participation = {z: (sum(1 for r in picked if r.zone == z),
                             sum(1 for r in picked if r.zone == z and r.channel in citizen))
                         for z in {r.zone for r in picked}}
        assert await panels.participation(db, f) == dict(sorted(participation.items()))
        cells = Counter(int((r.lat + 90) * 500) * 1_000_000 + int((r.lon + 180) * 500)
                        for r in picked if r.lat is not None and r.lon is not None)
        assert await panels.density(db, f, CLOCKS[town]) == dict(cells)
    finally:
        await db.close()


@pytest.mark.parametrize("town", [1, 2])
@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f"{f.since}..{f.until}")
async def test_response_indicators(data: tuple[Database, list[Row]], f: Filters,
                                   town: int) -> None:
    db, rows = data
    f = replace(f, municipalities=(town,))
    try:
        picked = list(chosen(rows, f))
        k = await panels.kpis(db, f, CLOCKS[town], NOW)
        assert k.reports == len(picked)
        assert k.states == {s: sum(1 for r in picked if r.state == s) for s in STATES}
        acted = [r.fa_s for r in picked if r.fa_s is not None]
        assert k.first_action_n == len(acted)
        assert k.first_action_s == sum(acted)
        assert k.first_action_buckets == [
            sum(1 for s in acted if (BOUNDS[b - 1] if b else 0) <= s
                < (BOUNDS[b] if b < len(BOUNDS) else 10**12)) for b in range(len(BOUNDS) + 1)]
        owed = [r for r in picked if r.due is not None]
        assert k.on_time == sum(1 for r in owed if r.done is not None and r.done <= r.due)
        assert k.late == sum(1 for r in owed if r.done is not None and r.done > r.due)
        assert k.pending == sum(1 for r in owed if r.done is None)
        assert k.pending_in_time == sum(1 for r in owed if r.done is None and r.due >= NOW)
        judged = k.on_time + k.late + sum(1 for r in owed if r.done is None and r.due < NOW)
        assert k.callbacks_share == (k.on_time / judged if judged else None)
        resolved = sum(1 for r in picked if r.state == "resolved")
        false = sum(1 for r in picked if r.state == "false_report")
        assert k.confirmed_share == (resolved / (resolved + false) if resolved + false else None)
        if acted:
            within = sum(1 for s in acted if s < 900) / len(acted)
            assert k.first_action_within(900) == pytest.approx(within)
    finally:
        await db.close()


async def test_year_on_year_and_weeks(data: tuple[Database, list[Row]]) -> None:
    db, rows = data
    try:
        f = Filters(date(2024, 3, 1), date(2024, 9, 1), zones=("5",))
        now_f, before_f = panels.comparison(f)
        assert (now_f.since, before_f.since, before_f.until) == (
            date(2024, 3, 1), date(2023, 3, 1), date(2023, 9, 1))
        now = Counter(r.type for r in chosen(rows, now_f))
        before = Counter(r.type for r in chosen(rows, before_f))
        assert await panels.year_on_year(db, f) == {
            t: (now[t], before[t]) for t in sorted(set(now) | set(before))}
        long_range = Filters(date(2023, 1, 1), date(2025, 3, 1))
        assert panels.comparison(long_range)[0].since == date(2024, 3, 1)
        weeks = Filters(date(2024, 1, 1), date(2024, 3, 25))
        expected = Counter((r.local.date() - timedelta(days=r.local.weekday())).isoformat()
                           for r in chosen(rows, weeks))
        assert await panels.by_week(db, weeks) == dict(sorted(expected.items()))
        span = await panels.data_span(db)  # municipality 1's, when none is named
        lima = [r.local.date() for r in rows if r.town == 1]
        assert span == (min(lima), max(lima))
    finally:
        await db.close()


def test_a_range_reads_whole_months_and_the_days_at_either_end() -> None:
    p = panels.plan(date(2024, 1, 15), date(2024, 4, 10))
    assert p.months == ("2024-02", "2024-04")
    assert p.days == (("2024-01-15", "2024-02-01"), ("2024-04-01", "2024-04-10"))
    assert panels.plan(date(2024, 1, 1), date(2024, 2, 1)).days == ()
    inside = panels.plan(date(2024, 1, 3), date(2024, 1, 9))
    assert inside.months is None and inside.days == (("2024-01-03", "2024-01-09"),)
    assert panels.plan(date(2024, 12, 31), date(2025, 1, 1)).months is None


async def test_each_municipality_counts_its_own_and_a_list_counts_them_together(
        data: tuple[Database, list[Row]]) -> None:
    """The metropolitan view's reading: several municipalities at once add up, each on its
    own clock; one municipality's panels hold none of the other's reports."""
    db, rows = data
    try:
        whole = Filters(date(2022, 12, 1), date(2025, 6, 1))
        alone = {town: await panels.by_type(db, replace(whole, municipalities=(town,)))
                 for town in (1, 2)}
        assert sum(alone[1].values()) == sum(1 for r in rows if r.town == 1)
        assert sum(alone[2].values()) == sum(1 for r in rows if r.town == 2)
        both = replace(whole, municipalities=(1, 2))
        assert await panels.by_type(db, both) == dict(Counter(alone[1]) + Counter(alone[2]))
        assert await panels.by_month(db, both) == {
            month: dict(counts) for month, counts in _months(chosen(rows, both)).items()}
        assert (await panels.kpis(db, both, LIMA, NOW)).reports == len(rows)
        for town in (1, 2):
            span = await panels.data_span(db, (town,))
            days = [r.local.date() for r in rows if r.town == town]
            assert span == (min(days), max(days)), town
        assert await panels.data_span(db, (3,)) is None  # no such municipality: nothing
    finally:
        await db.close()


def _months(picked: Iterator[Row]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for r in picked:
        out.setdefault(r.local.strftime("%Y-%m"), Counter())[r.type] += 1
    return out

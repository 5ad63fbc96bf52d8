"""Demo data that reproduces the case study: Table 1 of Alerta Miraflores, cell by cell.

``alerta demo --table1`` writes 133,081 reports whose counts by type and year
(local time) equal Table 1 (2003-2006), spread over months, weekdays, hours and
zones in patterns a command center would recognise: noise on weekend nights,
accidents at rush hour, robberies around the commercial centre, suspicious
activity everywhere. The system starts in June 2003 (the case study's map runs
from June 2003); robberies fall through 2006, so the second half of 2006 has
about 68% fewer than the second half of 2003, as the case study reports. About
2% of reports are false (98% confirmed). No clips. Deterministic for a seed.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from ivr.domain.incidents import IncidentType, Keypad
from ivr.domain.zones import Locator, ZoneShape, bounds
from ivr.store.rollup import Clock, triggers_off

TABLE1: dict[str, dict[int, int]] = {
    "robbery": {2003: 2019, 2004: 5857, 2005: 4131, 2006: 2221},
    "accident": {2003: 1273, 2004: 3842, 2005: 3467, 2006: 2599},
    "suspicious": {2003: 1480, 2004: 9035, 2005: 13533, 2006: 14667},
    "noise": {2003: 4734, 2004: 13944, 2005: 16530, 2006: 11804},
    "other": {2005: 8160, 2006: 13785},
}
TABLE1_ROWS = {"robbery": "Assault/Robbery", "accident": "Accident",
               "suspicious": "Suspicious Activity", "noise": "Noise / Neighbor disturbance",
               "other": "Other"}
TABLE1_TOTAL = 133_081
START_MONTH_2003 = 6

# Places reports gather around (lat, lon, spread in degrees): Parque Kennedy and
# Larco, Óvalo Gutiérrez, Benavides at the Vía Expresa, the Malecón.
HOT_POINTS = ((-12.1215, -77.0300, 0.0030), (-12.1300, -77.0290, 0.0025),
              (-12.1090, -77.0370, 0.0030), (-12.1265, -77.0225, 0.0030),
              (-12.1240, -77.0400, 0.0035))
# Per type: share drawn around each hot point (the rest is spread evenly).
HOT_SHARE = {"robbery": (0.16, 0.10, 0.08, 0.10, 0.04), "accident": (0.08, 0.08, 0.12, 0.16, 0.04),
             "suspicious": (0.02, 0.02, 0.04, 0.04, 0.04), "noise": (0.10, 0.08, 0.04, 0.0, 0.10),
             "other": (0.05, 0.05, 0.05, 0.05, 0.05)}
# Hour of day profiles (relative weights, 0..23), and weekday weights (Monday first).
HOURS = {
    "robbery": (3, 2, 2, 1, 1, 1, 2, 4, 5, 5, 5, 6, 7, 7, 6, 6, 7, 9, 11, 12, 11, 9, 6, 4),
    "accident": (2, 1, 1, 1, 1, 2, 4, 9, 10, 7, 6, 6, 7, 7, 6, 7, 8, 10, 11, 9, 7, 5, 4, 3),
    "suspicious": (5, 4, 3, 3, 2, 2, 2, 3, 4, 5, 6, 6, 6, 6, 6, 7, 7, 8, 9, 9, 9, 8, 7, 6),
    "noise": (12, 11, 8, 5, 2, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 5, 7, 9, 11, 12),
    "other": (1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 8, 7, 7, 7, 7, 6, 6, 5, 4, 3, 2, 2, 1),
}
WEEKDAYS = {"robbery": (10, 10, 10, 10, 12, 12, 9), "accident": (11, 11, 11, 11, 12, 10, 8),
            "suspicious": (10, 10, 10, 10, 11, 11, 10), "noise": (6, 6, 7, 8, 13, 16, 12),
            "other": (12, 12, 12, 12, 11, 7, 6)}
CHANNELS = (("ivr", 74), ("phone", 8), ("radio", 8), ("field", 6), ("counter", 2), ("email", 2))
FIRST_ACTION_MEDIAN_S = {"robbery": 150, "accident": 120, "suspicious": 300, "noise": 900,
                         "other": 1800}
_DAYS = tuple(range(31))
_HOUR_WEIGHTS = {t: list(itertools.accumulate(w)) for t, w in HOURS.items()}
_CHANNEL_NAMES = tuple(c for c, _ in CHANNELS)
_CHANNEL_WEIGHTS = list(itertools.accumulate(w for _, w in CHANNELS))


def _month_weights(type_id: str, year: int) -> list[float]:
    """Relative weight of each month of the year (zero before the launch)."""
    if year == 2003:
        ramp = [0.7 + 0.1 * n for n in range(13 - START_MONTH_2003)]  # word gets around
        return [0.0] * (START_MONTH_2003 - 1) + ramp
    if type_id == "robbery" and year == 2006:
        return [0.841 ** n for n in range(12)]  # the fall the case study reports
    if type_id == "other" and year == 2005:
        return [0.6 + 0.07 * n for n in range(12)]  # a new category catches on
    # Lima's summer (January-March) is busier on the streets.
    return [1 + 0.12 * math.cos(2 * math.pi * n / 12) for n in range(12)]


def split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` in whole parts proportional to ``weights`` (largest remainders)."""
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    parts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


@dataclass
class Place:
    zone: str | None
    lat: float | None
    lon: float | None


class Places:
    """Where reports come from: around the hot points or anywhere in the zones."""

    def __init__(self, zones: Sequence[ZoneShape], rng: random.Random) -> None:
        self.zones = list(zones)
        self.rng = rng
        self.box = bounds(self.zones)
        self.locator = Locator(self.zones)
        self.hot = [p for p in HOT_POINTS if self.locator.zone_of(p[1], p[0])]

    def point(self, type_id: str) -> tuple[str, float, float]:
        shares = HOT_SHARE.get(type_id, ()) if len(self.hot) == len(HOT_POINTS) else ()
        for _ in range(200):
            pick = self.rng.random()
            lat = lon = None
            for (plat, plon, spread), share in zip(HOT_POINTS, shares, strict=False):
                if pick < share:
                    lat, lon = self.rng.gauss(plat, spread), self.rng.gauss(plon, spread)
                    break
                pick -= share
            if lat is None or lon is None:
                lon = self.rng.uniform(self.box[0], self.box[2])
                lat = self.rng.uniform(self.box[1], self.box[3])
            zone = self.locator.zone_of(lon, lat)
            if zone is not None:
                return zone, round(lat, 6), round(lon, 6)
        raise RuntimeError("no point found inside the zones")

    def place(self, type_id: str) -> Place:
        roll = self.rng.random()
        if roll < 0.03:
            return Place(None, None, None)  # the caller gave no zone
        zone, lat, lon = self.point(type_id)
        if roll < 0.30:
            return Place(zone, None, None)  # a zone typed on the keypad, no address
        return Place(zone, lat, lon)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Generator:
    keypad: Keypad
    zones: Sequence[ZoneShape]
    clock: Clock
    deadlines: dict[str, int]
    seed: int = 2003

    def reports(self) -> Iterator[tuple[object, ...]]:
        """Report rows (see INSERT_REPORT) in time order within each type and month."""
        rng = random.Random(self.seed)
        places = Places(self.zones, rng)
        for type_id, years in TABLE1.items():
            incident = self.keypad.by_id(type_id)
            if incident is None:
                raise ValueError(f"the keypad has no incident type {type_id!r}")
            for year, total in years.items():
                for month, count in enumerate(split(total, _month_weights(type_id, year)), 1):
                    first = datetime(year, month, 1)
                    length = (datetime(year + (month == 12), month % 12 + 1, 1) - first).days
                    days = list(itertools.accumulate(
                        WEEKDAYS[type_id][(first + timedelta(days=d)).weekday()]
                        for d in range(length)))
                    for _ in range(count):
                        yield self._report(rng, places, incident, first, days)

    def _report(self, rng: random.Random, places: Places, incident: IncidentType,
                first: datetime, days: list[int]) -> tuple[object, ...]:
        """One report in the month starting ``first`` (``days``: cumulative day weights)."""
        type_id, year = incident.id, first.year
        day = rng.choices(_DAYS[: len(days)], cum_weights=days)[0]
        hours = _HOUR_WEIGHTS[type_id]
        hour = rng.choices(_DAYS[:24], cum_weights=hours)[0]
        if type_id == "noise" and (first + timedelta(days=day)).weekday() >= 4 and hour < 20:
            hour = rng.choices(_DAYS[:24], cum_weights=hours)[0]  # weekend nights, louder
        local = first + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        created = (local - self.clock.offset).replace(tzinfo=UTC)
        channel = rng.choices(_CHANNEL_NAMES, cum_weights=_CHANNEL_WEIGHTS)[0]
        if type_id == "robbery" and year >= 2005 and rng.random() < 0.04:
            channel = "pos"  # the point-of-sale silent alarm (POS SOS)
        place = places.place(type_id)
        roll = rng.random()
        state = "false_report" if roll < 0.02 else "duplicate" if roll < 0.03 else "resolved"
        caller = None
        if channel in ("ivr", "phone", "pos") and rng.random() < 0.88:
            caller = f"9{rng.randrange(10**8):08d}"
        if channel == "ivr":
            median = FIRST_ACTION_MEDIAN_S[type_id]
            delay = min(3 * 86400.0, rng.lognormvariate(math.log(median), 0.9))
            first_action = created + timedelta(seconds=delay)
        else:
            first_action = created  # staff filed it: acting on it is filing it
        due = done = None
        if caller:
            minutes = self.deadlines.get(type_id, 24 * 60)
            due = created + timedelta(minutes=minutes)
            outcome = rng.random()
            if outcome < 0.92:
                done = created + timedelta(minutes=minutes * rng.uniform(0.1, 0.95))
            elif outcome < 0.98:
                done = due + timedelta(minutes=rng.uniform(1, 180))
        closed = max(t for t in (first_action, done, created + timedelta(minutes=20)) if t)
        closed += timedelta(minutes=rng.uniform(5, 240))
        return (
            type_id, incident.priority, int(incident.emergency), state, channel,
            "es" if rng.random() < 0.95 else "en", caller, "callerid" if caller else None,
            place.zone, place.lat, place.lon,
            "directory" if place.lat is not None else "keypad" if place.zone else None,
            "completed" if channel == "ivr" else None, _iso(created), _iso(closed),
            _iso(created + timedelta(seconds=rng.randint(40, 200))) if channel == "ivr" else None,
            _iso(due) if due else None, _iso(done) if done else None, _iso(first_action),
        )


INSERT_REPORT = (
    "INSERT INTO reports (type, priority, emergency, state, complete, channel, language, caller,"
    " caller_source, zone, lat, lon, location_source, call_outcome, created_at, updated_at,"
    " call_ended_at, callback_due_at, callback_done_at, first_action_at)"
    " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
BATCH = 10_000


async def load(conn: aiosqlite.Connection, gen: Generator) -> int:
    """Insert the demo inside the caller's write transaction; return the count.

    The rollup triggers are off while it runs and every rollup is recounted at
    the end (``triggers_off``), which is five times faster than row by row.
    Each report gets its two events (opened, closed) like any other.
    """
    async with conn.execute("SELECT count(*) FROM reports") as cur:
        row = await cur.fetchone()
    if row and row[0]:
        raise ValueError(f"the database already holds {row[0]} reports; the demo needs an "
                         "empty one (set ALERTA_DATABASE to a new file)")
    await conn.execute("UPDATE municipalities SET timezone = ?, utc_offset_minutes = ?"
                       " WHERE id = 1", (gen.clock.timezone, gen.clock.utc_offset_minutes))
    # In time order, report numbers rise with time as they would have, and every
    # index on created_at grows at its end (twice as fast as inserting at random).
    rows = sorted(gen.reports(), key=lambda r: str(r[13]))
    count = 0
    async with triggers_off(conn):
        for start in range(0, len(rows), BATCH):
            count += await _flush(conn, rows[start:start + BATCH])
    return count


async def _flush(conn: aiosqlite.Connection, batch: list[tuple[object, ...]]) -> int:
    if not batch:
        return 0
    async with conn.execute("SELECT coalesce(max(id), 0) FROM reports") as cur:
        row = await cur.fetchone()
    first = int(row[0]) + 1 if row else 1
    await conn.executemany(INSERT_REPORT, batch)
    events = []
    for number, r in enumerate(batch, first):
        opened = json.dumps({"type": r[0], "priority": r[1], "channel": r[4], "demo": True},
                            separators=(",", ":"))
        closed = json.dumps({"from": "received", "to": r[3], "demo": True}, separators=(",", ":"))
        events.append((number, r[13], "demo", "report.opened", opened))
        events.append((number, r[14], "demo", "report.state_changed", closed))
    await conn.executemany(
        "INSERT INTO events (report_id, at, actor, kind, data) VALUES (?, ?, ?, ?, ?)", events)
    return len(batch)

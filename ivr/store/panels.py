"""The dashboard's numbers, read from the rollups.

A time range [since, until) of local days is split into whole months (read from
the month-level rollups) and the days at either end (read from the day-level
rollup), so a panel reads a bounded number of rows whatever the number of
reports: at most a few hundred rows a month plus two months of days. Only two
things come from the reports table itself, both bounded: the density map's
cells for the end days, and the callbacks that are owed but not yet due
(to tell an overdue callback from one still in time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ivr.store.analytics_schema import CALLBACKS, FA_BUCKETS, FIRST_ACTION_BOUNDS, HOURS, STATES
from ivr.store.db import Database
from ivr.store.rollup import Clock

# Channels by which citizens themselves report (radio and field are staff; pos, shops).
CITIZEN_CHANNELS = ("ivr", "phone", "counter", "email", "sms")
MAX_FILTER_VALUES = 50


@dataclass(frozen=True)
class Filters:
    since: date  # local day, inclusive
    until: date  # local day, exclusive
    types: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()  # "" is "no zone given"
    channels: tuple[str, ...] = ()
    # Whose reports: the session's municipality (several only for the metropolitan view).
    municipalities: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ValueError("the range ends before it starts")
        if not self.municipalities or not all(
                isinstance(m, int) and m > 0 for m in self.municipalities):
            raise ValueError("say whose reports")
        for values in (self.types, self.zones, self.channels):
            if len(values) > MAX_FILTER_VALUES:
                raise ValueError("too many filter values")

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    def shifted(self, years: int) -> Filters:
        return replace(self, since=_add_years(self.since, years),
                       until=_add_years(self.until, years))


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _month_after(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Plan:
    months: tuple[str, str] | None  # [from, to) as YYYY-MM
    days: tuple[tuple[str, str], ...]  # [from, to) as YYYY-MM-DD


def plan(since: date, until: date) -> Plan:
    first_whole = since if since.day == 1 else _month_after(since)
    end_whole = until.replace(day=1)
    if first_whole < end_whole:
        spans = ((since, first_whole), (end_whole, until))
        days = tuple((a.isoformat(), b.isoformat()) for a, b in spans if a < b)
        return Plan((first_whole.isoformat()[:7], end_whole.isoformat()[:7]), days)
    return Plan(None, ((since.isoformat(), until.isoformat()),) if since < until else ())


def _where(f: Filters, params: list[Any]) -> str:
    parts = [f"municipality_id IN ({','.join('?' * len(f.municipalities))})"]
    params.extend(f.municipalities)
    for column, values in (("type", f.types), ("zone", f.zones), ("channel", f.channels)):
        if values:
            parts.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    return "".join(f" AND {p}" for p in parts)


@dataclass
class Source:
    """How to read one grouping from the month-level table and from the day rollup."""

    month_table: str
    month_keys: Sequence[str]  # SQL over the month table's columns
    day_keys: Sequence[str]  # the same over rollup_day's columns
    measures: Sequence[str]


def _sql(src: Source, f: Filters, p: Plan) -> tuple[str, list[Any]]:
    params: list[Any] = []
    parts = []
    if p.months:
        sums = ", ".join(f"sum({m})" for m in src.measures)
        params.extend(p.months)
        where = _where(f, params)
        keys = ", ".join(src.month_keys)
        parts.append(f"SELECT {keys}, {sums} FROM {src.month_table}"
                     f" WHERE month >= ? AND month < ?{where} GROUP BY {keys}")
    if p.days:
        sums = ", ".join(f"sum({m})" for m in src.measures)
        spans = " OR ".join("(day >= ? AND day < ?)" for _ in p.days)
        for a, b in p.days:
            params.extend((a, b))
        where = _where(f, params)
        keys = ", ".join(src.day_keys)
        parts.append(f"SELECT {keys}, {sums} FROM rollup_day"
                     f" WHERE ({spans}){where} GROUP BY {keys}")
    return " UNION ALL ".join(parts), params


async def grouped(db: Database, src: Source, f: Filters) -> dict[tuple[Any, ...], list[int]]:
    """{group key: [sum of each measure]} over the filtered range; a group that sums to
    nothing is left out (a report that moved zone leaves a row of zeros behind)."""
    sql, params = _sql(src, f, plan(f.since, f.until))
    if not sql:
        return {}
    keys = len(src.month_keys)
    out: dict[tuple[Any, ...], list[int]] = {}
    for row in await db.fetchall(sql, params):
        key = tuple(row[:keys])
        values = [int(v or 0) for v in tuple(row)[keys:]]
        if key in out:
            out[key] = [a + b for a, b in zip(out[key], values, strict=True)]
        else:
            out[key] = values
    return {k: v for k, v in out.items() if any(v)}


def _by(keys: Sequence[str], measures: Sequence[str],
        day_keys: Sequence[str] | None = None) -> Source:
    return Source("rollup_month", keys, day_keys or keys, measures)


# --- panels ------------------------------------------------------------------------


async def type_year(db: Database, f: Filters) -> dict[str, dict[str, int]]:
    """Table 1's layout: {type: {year: reports}}."""
    rows = await grouped(db, _by(("type", "substr(month, 1, 4)"), ("n",),
                                 ("type", "substr(day, 1, 4)")), f)
    out: dict[str, dict[str, int]] = {}
    for (type_id, year), (n,) in sorted(rows.items()):
        out.setdefault(type_id, {})[year] = n
    return out


async def by_month(db: Database, f: Filters) -> dict[str, dict[str, int]]:
    """{YYYY-MM: {type: reports}}."""
    rows = await grouped(db, _by(("month", "type"), ("n",), ("substr(day, 1, 7)", "type")), f)
    out: dict[str, dict[str, int]] = {}
    for (month, type_id), (n,) in sorted(rows.items()):
        out.setdefault(month, {})[type_id] = n
    return out


async def by_type(db: Database, f: Filters) -> dict[str, int]:
    rows = await grouped(db, _by(("type",), ("n",)), f)
    return {k[0]: v[0] for k, v in sorted(rows.items())}


async def by_zone(db: Database, f: Filters) -> dict[str, int]:
    rows = await grouped(db, _by(("zone",), ("n",)), f)
    return {k[0]: v[0] for k, v in sorted(rows.items())}


async def by_channel(db: Database, f: Filters) -> dict[str, int]:
    rows = await grouped(db, _by(("channel",), ("n",)), f)
    return {k[0]: v[0] for k, v in sorted(rows.items())}


async def by_hour(db: Database, f: Filters) -> list[int]:
    rows = await grouped(db, _by(("1",), HOURS), f)
    return rows.get((1,), [0] * 24)


_WEEKDAY_OF_DAY = "CAST(strftime('%w', day) AS INTEGER)"


async def weekday_hour(db: Database, f: Filters) -> list[list[int]]:
    """7 × 24 counts; row 0 is Monday (ISO order), column h is hour h local."""
    src = Source("rollup_weekhour", ("weekday",), (_WEEKDAY_OF_DAY,), HOURS)
    rows = await grouped(db, src, f)
    grid = [[0] * 24 for _ in range(7)]
    for (weekday,), hours in rows.items():
        grid[(int(weekday) + 6) % 7] = hours  # %w: 0 is Sunday
    return grid


async def by_weekday(db: Database, f: Filters) -> list[int]:
    """Monday first."""
    src = Source("rollup_weekhour", ("weekday",), (_WEEKDAY_OF_DAY,), ("n",))
    out = [0] * 7
    for (weekday,), (n,) in (await grouped(db, src, f)).items():
        out[(int(weekday) + 6) % 7] = n
    return out


async def zone_hour(db: Database, f: Filters) -> dict[str, list[int]]:
    """{zone: 24 counts}: the hot spots by place and time of day."""
    rows = await grouped(db, _by(("zone",), HOURS), f)
    return {k[0]: v for k, v in sorted(rows.items())}


def top_hotspots(grid: dict[str, list[int]], limit: int = 10) -> list[tuple[str, int, int]]:
    cells = [(zone, hour, n) for zone, hours in grid.items() if zone
             for hour, n in enumerate(hours) if n]
    return sorted(cells, key=lambda c: (-c[2], c[0], c[1]))[:limit]


_MONDAY = "date(day, '-' || ((CAST(strftime('%w', day) AS INTEGER) + 6) % 7) || ' days')"


async def by_week(db: Database, f: Filters) -> dict[str, int]:
    """{monday YYYY-MM-DD: reports}; reads days only (for a few weeks at a time)."""
    week = _MONDAY
    params: list[Any] = [f.since.isoformat(), f.until.isoformat()]
    where = _where(f, params)
    rows = await db.fetchall(
        f"SELECT {week} AS week, sum(n) FROM rollup_day WHERE day >= ? AND day < ?{where}"
        " GROUP BY week ORDER BY week", params)
    return {str(r[0]): int(r[1] or 0) for r in rows}


async def by_week_type(db: Database, f: Filters) -> dict[str, dict[str, int]]:
    week = _MONDAY
    params: list[Any] = [f.since.isoformat(), f.until.isoformat()]
    where = _where(f, params)
    rows = await db.fetchall(
        f"SELECT {week} AS week, type, sum(n) FROM rollup_day WHERE day >= ? AND day < ?{where}"
        " GROUP BY week, type ORDER BY week", params)
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(str(r[0]), {})[str(r[1])] = int(r[2] or 0)
    return out


async def density(db: Database, f: Filters, clock: Clock) -> dict[int, int]:
    """{map cell: located reports} (cells of 1/500 of a degree; see schema.CELLS_PER_DEGREE).
    ``clock``: the municipalities' of ``f`` (it places the end days' bounds)."""
    p = plan(f.since, f.until)
    out: dict[int, int] = {}
    if p.months:
        params: list[Any] = list(p.months)
        where = _where(f, params)
        for cell, n in await db.fetchall(
                "SELECT cell, sum(n) FROM rollup_cell WHERE month >= ? AND month < ?"
                f"{where} GROUP BY cell", params):
            out[int(cell)] = out.get(int(cell), 0) + int(n)
    for a, b in p.days:
        lo = clock.utc_iso(datetime.fromisoformat(a))
        hi = clock.utc_iso(datetime.fromisoformat(b))
        params = [lo, hi]
        where = _where(f, params)
        for cell, n in await db.fetchall(
                "SELECT cell, count(*) FROM report_facts WHERE created_at >= ? AND created_at < ?"
                f" AND cell IS NOT NULL{where} GROUP BY cell", params):
            out[int(cell)] = out.get(int(cell), 0) + int(n)
    return out


@dataclass
class Kpis:
    reports: int = 0
    states: dict[str, int] = field(default_factory=dict)
    first_action_n: int = 0
    first_action_s: int = 0
    first_action_buckets: list[int] = field(default_factory=lambda: [0] * len(FA_BUCKETS))
    on_time: int = 0
    late: int = 0
    pending: int = 0  # owed, not yet made (overdue or still in time)
    pending_in_time: int = 0  # of those, the ones not yet due

    @property
    def overdue_open(self) -> int:
        return self.pending - self.pending_in_time

    @property
    def callbacks_share(self) -> float | None:
        """On time ÷ (made + owed and overdue)."""
        judged = self.on_time + self.late + self.overdue_open
        return self.on_time / judged if judged else None

    @property
    def confirmed_share(self) -> float | None:
        """Resolved ÷ (resolved + false reports); duplicates and open cases are not judged."""
        resolved, false = self.states.get("resolved", 0), self.states.get("false_report", 0)
        return resolved / (resolved + false) if resolved + false else None

    @property
    def first_action_mean_s(self) -> float | None:
        return self.first_action_s / self.first_action_n if self.first_action_n else None

    def first_action_within(self, seconds: int) -> float | None:
        """Share acted on within ``seconds`` (one of FIRST_ACTION_BOUNDS)."""
        if not self.first_action_n:
            return None
        upto = FIRST_ACTION_BOUNDS.index(seconds) + 1
        return sum(self.first_action_buckets[:upto]) / self.first_action_n

    @property
    def first_action_median_s(self) -> float | None:
        return self.first_action_percentile_s(0.5)

    def first_action_percentile_s(self, share: float) -> float | None:
        """The time within which ``share`` of reports were acted on, placed by linear
        interpolation inside its bucket (approximate: the rollups keep buckets)."""
        if not self.first_action_n:
            return None
        wanted, seen, low = self.first_action_n * share, 0, 0
        for bucket, count in enumerate(self.first_action_buckets):
            high = (FIRST_ACTION_BOUNDS[bucket] if bucket < len(FIRST_ACTION_BOUNDS)
                    else FIRST_ACTION_BOUNDS[-1] * 2)
            if count and seen + count >= wanted:
                return low + (high - low) * (wanted - seen) / count
            seen += count
            low = high
        return float(low)


_KPI_MEASURES = ("n", *(f"st_{s}" for s in STATES), "fa_n", "fa_s", *FA_BUCKETS,
                 *(f"cb_{c}" for c in CALLBACKS))


async def kpis(db: Database, f: Filters, clock: Clock, now: datetime | None = None) -> Kpis:
    """The response indicators. ``clock`` places the range's ends for the owed callbacks
    read from the reports: the municipalities of ``f`` should share it (the metropolitan
    view asks each municipality on its own clock)."""
    rows = await grouped(db, _by(("1",), _KPI_MEASURES), f)
    values = rows.get((1,), [0] * len(_KPI_MEASURES))
    v = dict(zip(_KPI_MEASURES, values, strict=True))
    k = Kpis(
        reports=v["n"], states={s: v[f"st_{s}"] for s in STATES},
        first_action_n=v["fa_n"], first_action_s=v["fa_s"],
        first_action_buckets=[v[b] for b in FA_BUCKETS],
        on_time=v["cb_on_time"], late=v["cb_late"], pending=v["cb_pending"],
    )
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
    params: list[Any] = [moment, clock.utc_iso(_midnight(f.since)),
                         clock.utc_iso(_midnight(f.until))]
    where = _where(f, params).replace("zone IN", "coalesce(zone, '') IN")
    row = await db.fetchone(
        # "+created_at" keeps SQLite on the small partial index of owed callbacks
        # (reports_due) instead of walking every report of the range by date.
        "SELECT count(*) FROM reports WHERE callback_done_at IS NULL AND callback_due_at >= ?"
        f" AND +created_at >= ? AND +created_at < ?{where}", params)
    k.pending_in_time = int(row[0]) if row else 0
    return k


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


async def participation(db: Database, f: Filters) -> dict[str, tuple[int, int]]:
    """{zone: (reports, reports citizens made themselves)}."""
    citizen = ",".join(f"'{c}'" for c in CITIZEN_CHANNELS)
    src = Source("rollup_month", ("zone",), ("zone",),
                 ("n", f"CASE WHEN channel IN ({citizen}) THEN n ELSE 0 END"))
    rows = await grouped(db, src, f)
    return {k[0]: (v[0], v[1]) for k, v in sorted(rows.items())}


# --- ranges ------------------------------------------------------------------------


async def data_span(db: Database, municipalities: Sequence[int] = (1,)
                    ) -> tuple[date, date] | None:
    """The first and last local day that hold reports (from the day rollup's key)."""
    marks = ",".join("?" * len(municipalities))
    first = await db.fetchone(f"SELECT min(day) FROM rollup_day WHERE municipality_id IN"
                              f" ({marks}) AND n != 0", tuple(municipalities))
    last = await db.fetchone(f"SELECT max(day) FROM rollup_day WHERE municipality_id IN"
                             f" ({marks}) AND n != 0", tuple(municipalities))
    if first is None or first[0] is None or last is None:
        return None
    return date.fromisoformat(first[0]), date.fromisoformat(last[0])


def comparison(f: Filters) -> tuple[Filters, Filters]:
    """The window compared with the same window a year earlier: the range itself
    when it spans a year at most, else the last twelve months of it."""
    current = f
    if f.days > 366:
        current = replace(f, since=_add_years(f.until, -1))
    return current, current.shifted(-1)


async def year_on_year(db: Database, f: Filters) -> dict[str, tuple[int, int]]:
    """{type: (reports now, reports a year earlier)} over ``comparison(f)``."""
    now_f, before_f = comparison(f)
    now, before = await by_type(db, now_f), await by_type(db, before_f)
    return {t: (now.get(t, 0), before.get(t, 0)) for t in sorted(set(now) | set(before))}


def change(now: int, before: int) -> float | None:
    return (now - before) / before if before else None


def weeks_ending(last_monday: date, count: int) -> list[date]:
    return [last_monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def all_values(rows: Iterable[dict[str, int]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)

#!/usr/bin/env python3
"""Benchmark: every dashboard panel and every export with one and ten million reports.

Builds (once, cached in bench/out/) databases of N reports through the real
migrations: five years (2021-2025) of reports over the sample zones of
Miraflores, every type, zone and channel, 70% located, first actions and
callbacks. The fixture is loaded the fast way (rollup triggers and report
indexes dropped, rows inserted in time order, indexes and rollups rebuilt in
SQL; synchronous off, for the fixture only); no events or clips, which the
dashboard never reads. Then it times each panel (the median of a few runs
after a first, cold one) for four ranges, and each export.

    .venv/bin/python bench/analytics.py [--reports 1000000,10000000] [--runs 5]
        [--exports 12m|all|none]

Target: every panel under 200 ms at one million reports, under 1 s at ten million.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.analytics import dashboard, exports  # noqa: E402
from ivr.domain import zones  # noqa: E402
from ivr.store import rollup  # noqa: E402
from ivr.store.db import Database  # noqa: E402
from ivr.store.panels import Filters  # noqa: E402
from ivr.store.rollup import Clock  # noqa: E402

LIMA = Clock("America/Lima", -300)
START = datetime(2021, 1, 1, 5, tzinfo=UTC)  # local midnight in Lima
DAYS = 5 * 365 + 1
TYPES = (("suspicious", 3, 40), ("noise", 5, 30), ("robbery", 2, 12), ("accident", 2, 8),
         ("other", 6, 8), ("emergency", 1, 2))
CHANNELS = (("ivr", 74), ("phone", 8), ("radio", 8), ("field", 6), ("counter", 2),
            ("email", 1), ("pos", 1))
HOURS = (3, 2, 2, 1, 1, 1, 2, 4, 5, 6, 6, 7, 7, 7, 6, 6, 7, 8, 9, 10, 10, 9, 7, 5)
RANGES = {
    "all (60 months)": Filters(date(2021, 1, 1), date(2026, 1, 1)),
    "12 months, ragged": Filters(date(2024, 11, 17), date(2025, 11, 14)),
    "30 days": Filters(date(2025, 10, 10), date(2025, 11, 9)),
    "all, filtered": Filters(date(2021, 1, 1), date(2026, 1, 1), types=("robbery", "noise"),
                             zones=("3", "10"), channels=("ivr",)),
}
INSERT = ("INSERT INTO reports (type, priority, emergency, state, complete, channel, caller,"
          " zone, lat, lon, created_at, updated_at, first_action_at, callback_due_at,"
          " callback_done_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _points(rng: random.Random, per_zone: int = 4000) -> list[list[tuple[float, float]]]:
    """Points inside each sample zone, drawn once and reused (sampling is the slow part)."""
    out = []
    for z in zones.sample():
        x0, y0, x1, y1 = z.bbox
        found: list[tuple[float, float]] = []
        while len(found) < per_zone:
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if z.contains(lon, lat):
                found.append((round(lat, 6), round(lon, 6)))
        out.append(found)
    return out


def _rows(count: int, seed: int = 7) -> itertools.chain[tuple[object, ...]]:
    rng = random.Random(seed)
    points = _points(rng)
    type_names = [t for t, _, _ in TYPES]
    priority = {t: p for t, p, _ in TYPES}
    type_cum = list(itertools.accumulate(w for _, _, w in TYPES))
    channel_names = [c for c, _ in CHANNELS]
    channel_cum = list(itertools.accumulate(w for _, w in CHANNELS))
    hour_cum = list(itertools.accumulate(HOURS))
    zone_cum = list(itertools.accumulate((1 + (n % 5)) for n in range(14)))
    per_day = count / DAYS

    def day_rows(day: int, n: int) -> list[tuple[object, ...]]:
        base = START + timedelta(days=day)
        rows: list[tuple[object, ...]] = []
        for _ in range(n):
            moment = base + timedelta(seconds=rng.choices(range(24), cum_weights=hour_cum)[0]
                                      * 3600 + rng.randrange(3600))
            type_id = rng.choices(type_names, cum_weights=type_cum)[0]
            channel = rng.choices(channel_names, cum_weights=channel_cum)[0]
            roll = rng.random()
            zone = lat = lon = None
            if roll > 0.03:
                z = rng.choices(range(14), cum_weights=zone_cum)[0]
                zone = str(z + 1)
                if roll > 0.3:
                    lat, lon = rng.choice(points[z])
            state = "false_report" if roll < 0.02 else "duplicate" if roll > 0.99 else "resolved"
            created = moment.isoformat(timespec="milliseconds")
            acted = (moment + timedelta(seconds=int(rng.expovariate(1 / 400)))).isoformat(
                timespec="milliseconds")
            caller = due = done = None
            if channel in ("ivr", "phone") and rng.random() < 0.88:
                caller = f"9{rng.randrange(10**8):08d}"
                due_at = moment + timedelta(minutes=60)
                due = due_at.isoformat(timespec="milliseconds")
                if rng.random() < 0.97:
                    done = (due_at + timedelta(minutes=rng.randint(-55, 10))).isoformat(
                        timespec="milliseconds")
            rows.append((type_id, priority[type_id], int(type_id == "emergency"), state,
                         channel, caller, zone, lat, lon, created, acted, acted, due, done))
        rows.sort(key=lambda r: str(r[9]))
        return rows

    return itertools.chain.from_iterable(
        day_rows(day, round(per_day * (day + 1)) - round(per_day * day)) for day in range(DAYS))


async def build(path: Path, count: int) -> None:
    async with Database(path):  # the real migrations
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")  # the fixture only: a crash means a rebuild
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("PRAGMA temp_store = MEMORY")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                           " AND tbl_name = 'reports' AND sql IS NOT NULL").fetchall()
    began = time.perf_counter()
    conn.execute("BEGIN")
    for name, _sql in indexes:
        conn.execute(f"DROP INDEX {name}")
    with rollup.triggers_off_sync(conn):
        rows = _rows(count)
        while batch := list(itertools.islice(rows, 100_000)):
            conn.executemany(INSERT, batch)
        print(f"  inserted {count:,} reports in {time.perf_counter() - began:.0f} s", flush=True)
        for _name, sql in indexes:
            conn.execute(sql)
        print(f"  indexes rebuilt at {time.perf_counter() - began:.0f} s", flush=True)
    print(f"  rollups counted at {time.perf_counter() - began:.0f} s", flush=True)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def _sizes(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        counts = [f"{t.split('_')[1]} {conn.execute(f'SELECT count(*) FROM {t}').fetchone()[0]:,}"
                  for t in ("rollup_day", "rollup_month", "rollup_weekhour", "rollup_cell")]
    finally:
        conn.close()
    return "rollup rows: " + ", ".join(counts)


async def time_panels(path: Path, runs: int) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    now = datetime(2025, 11, 14, 12, tzinfo=UTC)
    async with Database(path) as db:
        for range_name, f in RANGES.items():
            calls = {**dashboard.dashboard_panels(db, f, LIMA, now),
                     **{f"hotspots: {k}": v
                        for k, v in dashboard.hotspot_panels(db, f, LIMA).items()}}
            for panel, call in calls.items():
                times = []
                for _ in range(runs + 1):
                    began = time.perf_counter()
                    await call()
                    times.append((time.perf_counter() - began) * 1000)
                out[(panel, range_name)] = (times[0], statistics.median(times[1:]))
    return out


async def time_exports(path: Path, which: str) -> list[tuple[str, str, int, int, float]]:
    if which == "none":
        return []
    f = RANGES["12 months, ragged"] if which == "12m" else RANGES["all (60 months)"]
    centroids = {z.code: z.centroid for z in zones.sample()}
    out = []
    for kind in ("csv", "geojson", "xlsx"):
        began = time.perf_counter()
        size = rows = 0
        if kind == "csv":
            async for chunk in exports.csv_chunks(path, f, LIMA):
                size += len(chunk)
                rows += chunk.count(b"\n")
            rows -= 1  # the header
        elif kind == "geojson":
            async for chunk in exports.geojson_chunks(path, f, LIMA, centroids):
                size += len(chunk)
                rows += chunk.count(b'{"type":"Feature"')
        else:
            with tempfile.TemporaryDirectory() as folder:
                target = Path(folder) / "x.xlsx"
                rows = await asyncio.to_thread(exports.write_xlsx, path, f, LIMA, target)
                size = target.stat().st_size
        out.append((kind, f"{f.since}..{f.until}", rows, size, time.perf_counter() - began))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--exports", default="12m", choices=("12m", "all", "none"))
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    for count in (int(n) for n in args.reports.split(",")):
        path = out / f"analytics-{count}.sqlite3"
        if not path.exists():
            print(f"building {path.name} ...", flush=True)
            began = time.perf_counter()
            tmp = path.with_suffix(".building")
            for stale in out.glob(tmp.name + "*"):
                stale.unlink()
            asyncio.run(build(tmp, count))
            tmp.rename(path)
            print(f"built {path.name} in {time.perf_counter() - began:.0f} s")
        print(f"\n== {count:,} reports; {_sizes(path)}")
        timings = asyncio.run(time_panels(path, args.runs))
        names = list(RANGES)
        print(f"{'panel (ms: median, first run)':<32}" + "".join(f"{n:>22}" for n in names))
        panels = list(dict.fromkeys(p for p, _ in timings))
        for panel in panels:
            cells = "".join(f"{timings[(panel, r)][1]:>13.1f} ({timings[(panel, r)][0]:>6.1f})"
                            for r in names)
            print(f"{panel:<32}{cells}")
        worst = max(t[1] for t in timings.values())
        print(f"{'slowest panel (median)':<32}{worst:>13.1f} ms")
        for kind, span, rows, size, seconds in asyncio.run(time_exports(path, args.exports)):
            print(f"export {kind:<8} {span}: {seconds:7.1f} s  {rows:>11,} rows"
                  f" {rows / seconds:>9,.0f} rows/s  {size / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()

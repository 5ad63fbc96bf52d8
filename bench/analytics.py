#!/usr/bin/env python3
"""Benchmark: every dashboard panel and every export with one and ten million reports,
on SQLite and on PostgreSQL in the same run, side by side.

Builds (once, cached in bench/out/) SQLite databases of N reports through the real
migrations: five years (2021-2025) of reports over the sample zones of
Miraflores, every type, zone and channel, 70% located, first actions and
callbacks. The fixture is loaded the fast way (rollup triggers and report
indexes dropped, rows inserted in time order, indexes and rollups rebuilt in
SQL; synchronous off, for the fixture only); no events or clips, which the
dashboard never reads. PostgreSQL gets the same reports (read back from that
file, ids and all) on a throwaway cluster started for the run, durability on and
buffers sized (PG_SETTINGS), in one transaction: rollup triggers off
(``rollup.triggers_off``), report indexes dropped, rows COPYed, indexes built,
rollups recounted, triggers on; then VACUUM ANALYZE. Then it times each panel on
each engine (the median of a few runs after a first, cold one) for four ranges,
and each export, and checks that both engines gave the same answers.

    .venv/bin/python bench/analytics.py [--reports 1000000,10000000] [--runs 5]
        [--exports 12m|all|none] [--engines sqlite,postgresql]

Both engines by default when PostgreSQL's server binaries are installed.
Target: every panel under 200 ms at one million reports, under 1 s at ten million.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.analytics import dashboard, exports  # noqa: E402
from ivr.domain import zones  # noqa: E402
from ivr.store import engine as store_engine  # noqa: E402
from ivr.store import rollup  # noqa: E402
from ivr.store.db import Database  # noqa: E402
from ivr.store.panels import Filters  # noqa: E402
from ivr.store.rollup import Clock  # noqa: E402
from ivr.testing.postgres import PostgresMissing, ThrowawayPostgres, binaries  # noqa: E402

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


# --- PostgreSQL ----------------------------------------------------------------------------

# A throwaway cluster with a deployment's durability (ThrowawayPostgres turns it off for
# tests) and buffers for a machine of some 24 GiB; max_wal_size spares the load checkpoints.
PG_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
               "shared_buffers": "2GB", "effective_cache_size": "12GB", "work_mem": "64MB",
               "maintenance_work_mem": "1GB", "max_wal_size": "8GB"}
COLUMNS = ("id", "type", "priority", "emergency", "state", "complete", "channel", "caller",
           "zone", "lat", "lon", "created_at", "updated_at", "first_action_at",
           "callback_due_at", "callback_done_at")
PG_INDEXES = ("SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
              " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'reports'::regclass"
              " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)")


def engines_of(parser: argparse.ArgumentParser, given: str | None) -> list[str]:
    """--engines, or both when PostgreSQL's server binaries are installed."""
    if given is None:
        try:
            binaries()
            given = "sqlite,postgresql"
        except PostgresMissing:
            print("note: PostgreSQL's server binaries are not installed: SQLite only")
            given = "sqlite"
    engines = [e.strip() for e in given.split(",") if e.strip()]
    if not engines or set(engines) - {"sqlite", "postgresql"}:
        parser.error("--engines: sqlite, postgresql or both")
    return engines


@contextlib.contextmanager
def pg_server(engines: list[str]) -> Iterator[ThrowawayPostgres | None]:
    """A throwaway cluster for the run when PostgreSQL is measured; its settings printed."""
    if "postgresql" not in engines:
        yield None
        return
    with ThrowawayPostgres.start(server_settings=PG_SETTINGS) as server:
        import psycopg

        with psycopg.connect(server.dsn, autocommit=True) as conn:
            shown = [f"{k}={conn.execute(f'SHOW {k}').fetchone()[0]}" for k in (  # type: ignore
                "server_version", "fsync", "synchronous_commit", "full_page_writes",
                "shared_buffers", "work_mem", "jit")]
        print("PostgreSQL, a throwaway cluster on this machine (loopback): " + ", ".join(shown),
              flush=True)
        yield server


def pg_database(server: ThrowawayPostgres, name: str) -> str:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}".encode())
        conn.execute(f"CREATE DATABASE {name}".encode())
    return server.dsn.rsplit("/", 1)[0] + "/" + name


async def build_pg(source: Path, dsn: str) -> None:
    """The SQLite fixture's reports into PostgreSQL, in one transaction (see the top)."""
    import psycopg

    from ivr.store.postgres import Connection

    async with store_engine.database(dsn):  # the schema, as the store installs it
        pass
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)  # an absolute path
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, options="-c timezone=UTC")
    began = time.perf_counter()

    def say(what: str) -> None:
        print(f"  {what} at {time.perf_counter() - began:.0f} s", flush=True)

    try:
        async with conn.transaction():
            indexes = await (await conn.execute(PG_INDEXES)).fetchall()
            for name, _sql in indexes:
                await conn.execute(f"DROP INDEX {name}".encode())
            store: Any = Connection(conn, frozenset())  # aiosqlite's methods, translated
            async with rollup.triggers_off(store):
                count, names = 0, ", ".join(COLUMNS)
                rows = src.execute(f"SELECT {names} FROM reports ORDER BY id")
                async with conn.cursor().copy(f"COPY reports ({names}) FROM STDIN".encode()
                                              ) as copy:
                    for batch in iter(lambda: rows.fetchmany(50_000), []):
                        for row in batch:
                            await copy.write_row(row)
                        count += len(batch)
                say(f"COPY of {count:,} reports done")
                for _name, sql in indexes:
                    await conn.execute(sql.encode())
                say("indexes rebuilt")
            say("rollups recounted (the triggers on again)")
        say("committed")
        await conn.execute("VACUUM (ANALYZE)")
        say("VACUUM ANALYZE done")
    finally:
        await conn.close()
        src.close()


# --- measuring -----------------------------------------------------------------------------


Timings = dict[tuple[str, str], tuple[float, float]]


async def time_panels(location: Path | str, runs: int) -> tuple[Timings, dict[Any, Any]]:
    out: Timings = {}
    results: dict[Any, Any] = {}
    now = datetime(2025, 11, 14, 12, tzinfo=UTC)
    async with store_engine.database(location) as db:
        counts = [f"{t.split('_')[1]} {(await db.fetchall(f'SELECT count(*) FROM {t}'))[0][0]:,}"
                  for t in ("rollup_day", "rollup_month", "rollup_weekhour", "rollup_cell")]
        size = (await db.fetchall(
            "SELECT pg_database_size(current_database())" if store_engine.is_postgres(location)
            else "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"))
        print(f"{getattr(db, 'engine', 'sqlite')}: {int(size[0][0]) / 1e6:,.0f} MB;"
              " rollup rows: " + ", ".join(counts), flush=True)
        for range_name, f in RANGES.items():
            calls = {**dashboard.dashboard_panels(db, f, LIMA, now),
                     **{f"hotspots: {k}": v
                        for k, v in dashboard.hotspot_panels(db, f, LIMA).items()}}
            for panel, call in calls.items():
                times = []
                for _ in range(runs + 1):
                    began = time.perf_counter()
                    results[(panel, range_name)] = await call()
                    times.append((time.perf_counter() - began) * 1000)
                out[(panel, range_name)] = (times[0], statistics.median(times[1:]))
    return out, results


async def time_export(location: Path | str, kind: str, which: str
                      ) -> tuple[str, int, int, float]:
    """One export of the range ``which`` (12m or all): its span, rows, bytes, seconds."""
    f = RANGES["12 months, ragged"] if which == "12m" else RANGES["all (60 months)"]
    centroids = {z.code: z.centroid for z in zones.sample()}
    began = time.perf_counter()
    size = rows = 0
    if kind == "csv":
        async for chunk in exports.csv_chunks(location, f, LIMA):
            size += len(chunk)
            rows += chunk.count(b"\n")
        rows -= 1  # the header
    elif kind == "geojson":
        async for chunk in exports.geojson_chunks(location, f, LIMA, centroids):
            size += len(chunk)
            rows += chunk.count(b'{"type":"Feature"')
    else:
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "x.xlsx"
            rows = await asyncio.to_thread(exports.write_xlsx, location, f, LIMA, target)
            size = target.stat().st_size
    return f"{f.since}..{f.until}", rows, size, time.perf_counter() - began


def _plain(value: Any) -> Any:
    """A panel's answer, comparable across engines (floats to 9 digits)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return round(value, 9) if isinstance(value, float) else value


def print_panels(engines: list[str], timings: dict[str, Timings]) -> None:
    names, cell = list(RANGES), 22 // len(engines)  # a range is 22 wide
    panels = list(dict.fromkeys(p for p, _ in timings[engines[0]]))
    for title, pick in (("median of the runs after the first (ms)", 1), ("first run (ms)", 0)):
        print(f"\n{title:<32}" + "".join(f"{n:>22}" for n in names))
        print(f"{'panel':<32}" + "".join(f"{e:>{cell}}" for _ in names for e in engines))
        for panel in panels:
            print(f"{panel:<32}" + "".join(f"{timings[e][(panel, r)][pick]:>{cell}.1f}"
                                           for r in names for e in engines))
    print(f"{'slowest panel (median)':<32}" + "".join(
        f"  {e}: {max(t[1] for t in timings[e].values()):.1f} ms" for e in engines))


def print_exports(engines: list[str], where: dict[str, Path | str], which: str) -> None:
    """Each export on each engine, a line as each is done."""
    if which == "none":
        return
    print(f"\n{'export':<8} {'span':<23} {'engine':<11} {'seconds':>8} {'rows':>11}"
          f" {'rows/s':>9} {'MB':>8}")
    for kind in ("csv", "geojson", "xlsx"):
        for e in engines:
            span, rows, size, seconds = asyncio.run(time_export(where[e], kind, which))
            print(f"{kind:<8} {span:<23} {e:<11} {seconds:>8.1f} {rows:>11,}"
                  f" {rows / seconds:>9,.0f} {size / 1e6:>8.1f}", flush=True)


def sqlite_fixture(out: Path, count: int) -> Path:
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
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--exports", default="12m", choices=("12m", "all", "none"))
    parser.add_argument("--engines", default=None, help="sqlite,postgresql (default: both "
                        "when PostgreSQL is installed)")
    args = parser.parse_args()
    engines = engines_of(parser, args.engines)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; load average (1 min) at the start:"
          f" {os.getloadavg()[0]:.1f}", flush=True)
    with pg_server(engines) as server:
        for count in (int(n) for n in args.reports.split(",")):
            path = sqlite_fixture(out, count)  # PostgreSQL's reports come from it too
            where: dict[str, Path | str] = {"sqlite": path}
            if server is not None:
                print(f"loading {count:,} reports into PostgreSQL ...", flush=True)
                where["postgresql"] = pg_database(server, f"analytics_{count}")
                asyncio.run(build_pg(path.resolve(), str(where["postgresql"])))
            print(f"\n== {count:,} reports")
            timings, answers = {}, {}
            for e in engines:
                timings[e], answers[e] = asyncio.run(time_panels(where[e], args.runs))
            print_panels(engines, timings)
            if len(engines) > 1:
                differ = [k for k in answers[engines[0]]
                          if _plain(answers[engines[0]][k]) != _plain(answers[engines[1]][k])]
                print("every panel's answer is the same on both engines" if not differ else
                      f"ANSWERS DIFFER between the engines: {differ}")
            print_exports(engines, where, args.exports)
            print(f"load average (1 min) now: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()

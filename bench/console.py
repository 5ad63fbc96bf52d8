#!/usr/bin/env python3
"""Benchmark: console server time with a million reports in the database, on SQLite
and on PostgreSQL in the same run, side by side.

Builds (once, cached in bench/out/) a SQLite database of N reports through the real
migrations, with the events, clips, callbacks and note index a busy command
center would have after years: 3 events per report, a clip for 80% of them,
notes on 10%, 0.3% still open. PostgreSQL gets the very same rows by ``alerta db
copy`` (COPY in foreign-key order, verified by counts and checksums) into a
throwaway cluster started for the run, durability on (settings printed), then
VACUUM ANALYZE. Then the real console serves the queue, several searches and
report pages over loopback on each engine, and this prints the server time (the
console's own ``Server-Timing`` header) p50/p95 per page, plus the delay from a
committed change to its arrival on an open event stream (NOTIFY on PostgreSQL).

    .venv/bin/python bench/console.py [--reports 1000000] [--rounds 200]
        [--engines sqlite,postgresql]

Both engines by default when PostgreSQL's server binaries are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analytics import engines_of, pg_database, pg_server  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.store import engine as store_engine  # noqa: E402
from ivr.store.copy import copy_database  # noqa: E402
from ivr.store.db import Database  # noqa: E402
from tests.console_util import console_site  # noqa: E402

TYPES = [("suspicious", 3, 0.47), ("noise", 5, 0.30), ("robbery", 2, 0.10),
         ("accident", 2, 0.08), ("other", 6, 0.04), ("emergency", 1, 0.01)]
WORDS = ("sospechoso casaca roja moto lunas polarizadas fiesta música alta perro ladra "
         "choque taxi combi herido robo celular cartera parque kennedy larco malecón").split()


async def build(path: Path, reports: int) -> None:
    db = await Database(path).open()  # the real migrations
    await db.close()
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # building the fixture only
    start = datetime(2023, 1, 1, tzinfo=UTC)
    span_s = int((datetime.now(UTC) - start).total_seconds())
    step = span_s / reports
    weights = [w for _, _, w in TYPES]
    batch_r, batch_e, batch_c, batch_t = [], [], [], []
    event_id = 0
    open_from = int(reports * 0.997)

    def flush() -> None:
        conn.executemany(
            "INSERT INTO reports (id, type, priority, emergency, state, complete, channel,"
            " language, caller, caller_source, zone, created_at, updated_at, call_ended_at,"
            " callback_due_at, callback_done_at, first_action_at)"
            " VALUES (?,?,?,?,?,1,'ivr','es',?,'callerid',?,?,?,?,?,?,?)", batch_r)
        conn.executemany("INSERT INTO events (id, report_id, at, actor, kind, data)"
                         " VALUES (?,?,?,?,?,?)", batch_e)
        conn.executemany("INSERT INTO clips (report_id, take, path, seconds, bytes, sha256,"
                         " created_at) VALUES (?,1,?,?,?,'',?)", batch_c)
        conn.executemany("INSERT INTO report_text (body, report_id, source) VALUES (?,?,'note')",
                         batch_t)
        batch_r.clear(), batch_e.clear(), batch_c.clear(), batch_t.clear()

    for n in range(1, reports + 1):
        type_id, priority, _ = rng.choices(TYPES, weights)[0]
        at = start + timedelta(seconds=n * step)
        iso = at.isoformat(timespec="milliseconds")
        done = (at + timedelta(minutes=rng.randint(2, 40))).isoformat(timespec="milliseconds")
        state = "received" if n >= open_from else rng.choices(
            ["resolved", "false_report", "duplicate"], [0.97, 0.02, 0.01])[0]
        caller = f"9{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.9 else None
        due = (at + timedelta(minutes=60)).isoformat(timespec="milliseconds")
        batch_r.append((n, type_id, priority, int(type_id == "emergency"), state, caller,
                        str(rng.randint(1, 14)), iso, done, iso, due,
                        done if state != "received" else None,
                        done if state != "received" else None))
        for kind in ("report.opened", "call.ended") + (
                ("report.state_changed",) if state != "received" else ()):
            event_id += 1
            batch_e.append((event_id, n, iso, "ivr", kind, "{}"))
        if rng.random() < 0.8:
            batch_c.append((n, f"{at:%Y/%m/%d}/call-r{n}-t1.wav", rng.uniform(3, 90), 64000, iso))
        if rng.random() < 0.1:
            batch_t.append((" ".join(rng.choices(WORDS, k=6)), n))
        if len(batch_r) >= 50_000:
            flush()
    flush()
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load_pg(path: Path, dsn: str) -> None:
    """The SQLite fixture, every table, into PostgreSQL: ``alerta db copy``, then VACUUM."""
    import psycopg

    began = time.perf_counter()
    await copy_database(f"sqlite://{path}", dsn, say=lambda line: print("  " + line))
    print(f"  copied and verified in {time.perf_counter() - began:.0f} s", flush=True)
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    print(f"  VACUUM ANALYZE done at {time.perf_counter() - began:.0f} s", flush=True)


Figures = dict[str, tuple[float, float, float]]  # page: p50, p95, max (ms)


async def measure(location: Path | str, clips: Path, rounds: int, reports: int) -> Figures:
    settings = dataclasses.replace(Settings(), database=location, voiceclips=clips)
    db = await store_engine.database(location).open()
    rng = random.Random(11)
    out: Figures = {}
    try:
        async with console_site(settings, db=db) as site, site.browser() as b:
            if (await b.login("ana")).status != 302:
                raise SystemExit("login failed")
            pages = {
                "queue": lambda: "/",
                "queue rows (live refresh)": lambda: "/queue/rows",
                "search: newest": lambda: "/reports",
                "search: type + month": lambda: "/reports?type=robbery&since=2024-03-01"
                                                 "&until=2024-03-31",
                "search: zone + state": lambda: "/reports?zone=7&state=false_report",
                "search: words": lambda: "/reports?words=" + rng.choice(WORDS),
                "search: caller": lambda: "/reports?caller=9" + f"{rng.randint(0, 99_999_999):08d}",
                "search: older page": lambda: f"/reports?before={rng.randint(2, reports)}",
                "report page": lambda: f"/reports/{rng.randint(1, reports)}",
            }
            for name, make in pages.items():
                times = []
                for _ in range(rounds):
                    response = await b.get(make(), headers={"Accept": "text/html"})
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{name}: HTTP {response.status}")
                    timing = response.headers["Server-Timing"]
                    times.append(float(timing.split("dur=")[1]))
                out[name] = (statistics.median(times), percentile(times, .95), max(times))
            # Live feed: from the commit of a change to its arrival on an open stream.
            stream = await b.client.get("/events")
            delays = []
            for _ in range(20):
                sent = time.perf_counter()
                await site.console.casework.add_note(reports, "user:bench", "nota de prueba")
                while True:
                    line = (await stream.content.readline()).decode()
                    if line.startswith("data: ") and "report.note" in line:
                        json.loads(line[6:])
                        break
                delays.append((time.perf_counter() - sent) * 1000)
            stream.close()
            out["event stream delay"] = (statistics.median(delays), percentile(delays, .95),
                                         max(delays))
    finally:
        await db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--engines", default=None, help="sqlite,postgresql (default: both "
                        "when PostgreSQL is installed)")
    args = parser.parse_args()
    engines = engines_of(parser, args.engines)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"console-{args.reports}.sqlite3"
    if not path.exists():
        began = time.perf_counter()
        tmp = path.with_suffix(".building")
        for stale in out.glob(tmp.name + "*"):
            stale.unlink()
        asyncio.run(build(tmp, args.reports))
        for suffix in ("-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
        tmp.rename(path)
        print(f"built {path.name} in {time.perf_counter() - began:.0f} s")
    print(f"machine: {os.cpu_count()} cores; load average (1 min) at the start:"
          f" {os.getloadavg()[0]:.1f}", flush=True)
    with pg_server(engines) as server:
        where: dict[str, Path | str] = {"sqlite": path}
        if server is not None:
            print(f"copying {path.name} into PostgreSQL ...", flush=True)
            where["postgresql"] = pg_database(server, f"console_{args.reports}")
            asyncio.run(load_pg(path.resolve(), str(where["postgresql"])))
        figures = {e: asyncio.run(measure(where[e], out / "clips", args.rounds, args.reports))
                   for e in engines}
    print(f"\n{args.reports:,} reports; {args.rounds} requests per page; server time from "
          "the Server-Timing header (ms)")
    print(f"{'':<28}" + "".join(f"{e:>27}" for e in engines))
    print(f"{'page':<28}" + f" {'p50':>8} {'p95':>8} {'max':>8}" * len(engines))
    for name in figures[engines[0]]:
        print(f"{name:<28}" + "".join(f" {figures[e][name][0]:8.2f} {figures[e][name][1]:8.2f}"
                                      f" {figures[e][name][2]:8.2f}" for e in engines))
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: two controllers and two consoles on one PostgreSQL, one controller killed.

Starts a throwaway PostgreSQL (``ivr.testing.postgres``; fsync off, so a real disk is
slower at commit), two ``alerta serve`` and two ``alerta console`` processes
(``ivr.testing.fleet``), places N calls with the fake Asterisk spread over both
controllers (each call fails over to the other when its controller refuses), kills
controller 1 with SIGKILL half-way, and prints:

- calls placed, numbers given, calls cut by the kill, reports stored, numbers given but
  not stored (must be 0), reports stored twice (must be 0);
- calls per second over the run;
- for each console, how long after a report was stored (its ``created_at``) the
  console's live feed announced it: median, 95th and 99th percentile, maximum, and how
  many took over one second.

    .venv/bin/python bench/controllers.py [--calls 2000] [--at-once 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.domain.roles import Role  # noqa: E402
from ivr.store.postgres import PgDatabase  # noqa: E402
from ivr.store.users import Users  # noqa: E402
from ivr.testing import CallScript, make_tone_wav  # noqa: E402
from ivr.testing.fleet import ConsoleWatcher, Fleet  # noqa: E402
from ivr.testing.postgres import ThrowawayPostgres  # noqa: E402

KEYS = ["1", "2", "1", "#", "1"]
PASSWORD = "bench password 2026"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(calls: int, at_once: int, root: Path, dsn: str) -> None:
    voice = make_tone_wav(root / "voice.wav", 1.0)
    with Fleet.start(root / "fleet", dsn, controllers=2, consoles=2) as fleet:
        db = await PgDatabase(dsn).open()
        try:
            await Users(db).add("bench", Role.OPERATOR, PASSWORD)
            watchers = [ConsoleWatcher(f"http://127.0.0.1:{c.console_port}", "bench", PASSWORD)
                        for c in fleet.consoles]
            tasks = [asyncio.create_task(w.run()) for w in watchers]
            await asyncio.gather(*(w.ready.wait() for w in watchers))
            gate = asyncio.Semaphore(at_once)
            started = 0
            half = asyncio.Event()

            async def one(n: int) -> int | None:
                nonlocal started
                async with gate:
                    started += 1
                    if started >= calls // 2:
                        half.set()
                    _where, result = await fleet.call(n % 2, CallScript(
                        keys=KEYS, voice=voice, caller_id=f"9{n:08d}", uniqueid=f"bench.{n}",
                        language="es", timeout_s=120))
                    value = result.variables.get("ALERTA_REPORT")
                    return int(value) if value else None

            async def killer() -> None:
                await half.wait()
                fleet.kill(0)

            began = time.perf_counter()
            kill = asyncio.create_task(killer())
            numbers = await asyncio.gather(*(one(n) for n in range(calls)))
            elapsed = time.perf_counter() - began
            await kill
            given = [n for n in numbers if n is not None]
            rows = await db.fetchall("SELECT id, created_at FROM reports")
            stored = {int(r[0]): datetime.fromisoformat(r[1]).timestamp() for r in rows}
            deadline = time.monotonic() + 30
            while any(set(stored) - set(w.opened) for w in watchers) and (  # noqa: ASYNC110
                    time.monotonic() < deadline):
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            twice = await db.fetchall("SELECT id FROM reports GROUP BY id HAVING count(*) > 1")
        finally:
            await db.close()
    lost = sorted(set(given) - set(stored))
    print(f"calls placed            {calls}")
    print(f"numbers given           {len(given)}  (distinct {len(set(given))})")
    print(f"cut by the kill         {calls - len(given)}")
    print(f"reports stored          {len(stored)}")
    print(f"given but not stored    {len(lost)}   (journal of the killed one not yet replayed"
          " counts here)")
    print(f"stored twice            {len(twice)}")
    print(f"calls per second        {calls / elapsed:.1f}  ({elapsed:.1f} s)")
    for n, w in enumerate(watchers, start=1):
        delays = [w.opened[r] - at for r, at in stored.items() if r in w.opened]
        missed = len(set(stored) - set(w.opened))
        over = sum(d > 1.0 for d in delays)
        print(f"console {n}: saw {len(delays)}/{len(stored)} (missed {missed});"
              f" stored→shown ms p50 {1000 * statistics.median(delays):.0f}"
              f" p95 {1000 * pct(delays, 95):.0f} p99 {1000 * pct(delays, 99):.0f}"
              f" max {1000 * max(delays):.0f}; over 1 s: {over}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--at-once", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alerta-bench-") as folder, \
            ThrowawayPostgres.start() as pg:
        asyncio.run(run(args.calls, args.at_once, Path(folder), pg.dsn))


if __name__ == "__main__":
    main()

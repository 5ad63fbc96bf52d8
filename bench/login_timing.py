#!/usr/bin/env python3
"""Benchmark: does the time a refused login takes tell which user names exist?

Times ``Users.authenticate`` (the argon2 check and its store writes, no HTTP and no
per-address slow-down) for an unknown name, a locked account given its right
password, and a known name with a wrong password, interleaved, and prints the
median and p10/p90 of each. Then fires a burst of wrong passwords at once at one
account and prints how many real checks ran (the rest were refused unchecked).

    .venv/bin/python bench/login_timing.py [--rounds 40] [--burst 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.domain.roles import Role  # noqa: E402
from ivr.store.db import Database  # noqa: E402
from ivr.store.users import Users  # noqa: E402

PASSWORD = "correct horse battery"


async def main(rounds: int, burst: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "bench.sqlite3") as db:
            users = Users(db)
            for name in ("ana", "locked", "target"):
                await users.add(name, Role.OPERATOR, PASSWORD)
            for _ in range(3):
                await users.authenticate("locked", "wrong guess", max_failures=3, lockout_s=3600)
            cases = {"unknown name": ("nobody", PASSWORD), "locked account": ("locked", PASSWORD),
                     "wrong password": ("ana", "wrong guess")}
            times: dict[str, list[float]] = {case: [] for case in cases}
            for _ in range(rounds):
                for case, (name, password) in cases.items():
                    began = time.perf_counter()
                    result = await users.authenticate(name, password, max_failures=10**9,
                                                      lockout_s=3600)
                    times[case].append((time.perf_counter() - began) * 1000)
                    assert result.user is None
            for case, values in times.items():
                ordered = sorted(values)
                print(f"{case:15s} median {statistics.median(values):7.1f} ms"
                      f"   p10 {ordered[len(ordered) // 10]:7.1f}"
                      f"   p90 {ordered[len(ordered) * 9 // 10]:7.1f}")
            results = await asyncio.gather(*(
                users.authenticate("target", f"guess {i}", max_failures=5, lockout_s=3600)
                for i in range(burst)))
            checked = sum(1 for r in results if r.reason in ("bad", "locked"))
            print(f"burst of {burst} wrong passwords at once: {checked} checked against the"
                  f" real hash, {burst - checked} refused unchecked")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.burst))

"""The database write-locked (or gone) for a while, calls arriving all the time.

Prints how many callers who picked a type heard a report number, how long the
longest command waited, how long the journal took to drain once the lock was
released, and whether every report is in the database exactly once with its clip.

    python bench/journal_outage.py [--lock-s 60] [--calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sqlite3
import tempfile
import time
from pathlib import Path

from ivr.agi.server import AgiServer
from ivr.app import services
from ivr.config import Settings
from ivr.flows import routes
from ivr.testing import CallScript, make_tone_wav, place_call

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["1", "2", "1", "#", "1"]


async def main(lock_s: float, calls: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="alerta-outage-"))
    settings = dataclasses.replace(
        Settings(), database=tmp / "a.sqlite3", voiceclips=tmp / "clips",
        prompts=ROOT / "prompts", agi_port=0, menu_timeout_s=1.0)
    voice = make_tone_wav(tmp / "voice.wav", 2.0)
    async with services(settings) as svc:
        server = AgiServer(settings.agi, routes(svc.deps))
        await server.start()
        holder = sqlite3.connect(settings.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        gap = lock_s / calls * 0.9

        async def one(i: int) -> tuple[str | None, float]:
            await asyncio.sleep(i * gap)
            result = await place_call("127.0.0.1", server.port,
                                      CallScript(keys=KEYS, voice=voice))
            return result.variables.get("ALERTA_REPORT"), max(result.command_latencies)

        results = await asyncio.gather(*(one(i) for i in range(calls)))
        await asyncio.sleep(max(0.0, lock_s - (time.monotonic() - locked_at)))
        held = time.monotonic() - locked_at
        waiting = svc.book.pending() if svc.book else -1
        holder.execute("ROLLBACK")
        holder.close()
        released = time.monotonic()
        assert svc.book is not None
        svc.book.kick()
        await svc.book.emptied.wait()
        drained = time.monotonic() - released
        numbers = [int(n) for n, _ in results if n]
        rows = await svc.db.fetchall(
            "SELECT r.id, COUNT(c.id) AS clips FROM reports r LEFT JOIN clips c"
            " ON c.report_id = r.id GROUP BY r.id")
        stored = {r["id"]: r["clips"] for r in rows}
        opened = await svc.db.fetchall(
            "SELECT report_id, COUNT(*) AS n FROM events WHERE kind = 'report.opened'"
            " GROUP BY report_id HAVING n > 1")
        await server.stop(5.0)
    print(f"database write-locked for {held:.1f} s; {calls} calls arrived during it")
    print(f"callers who heard a report number: {len(numbers)} of {calls}")
    print(f"longest wait for one command: {max(w for _, w in results) * 1000:.0f} ms")
    print(f"reports waiting in the journal at release: {waiting}; drained in {drained:.2f} s")
    print(f"in the database: {sum(1 for n in numbers if n in stored)} of {len(numbers)};"
          f" with exactly one clip: {sum(1 for n in numbers if stored.get(n) == 1)};"
          f" opened twice: {len(opened)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock-s", type=float, default=60.0)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.lock_s, args.calls))

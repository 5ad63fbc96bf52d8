"""Two controllers and two consoles on one PostgreSQL, one controller killed half-way.

Real processes (``alerta serve`` twice, ``alerta console`` twice) on a throwaway
PostgreSQL, a shared clip folder; the fake Asterisk places the calls, each dialled
at one controller and, when it refuses, at the other (Asterisk's failover between
``hagi://`` targets). Half-way one controller is killed with SIGKILL. Then:

- every report whose number a caller was given is stored, once, with its type;
- both open consoles saw every report arrive on their live feed (LISTEN/NOTIFY
  across processes; how soon is measured by bench/controllers.py, not asserted);
- nothing is left half-done: the surviving controller closed the killed one's open
  calls when its lease ran out (the killed one's restart then replays its journal),
  and no clip job stays claimed by the dead process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ivr.domain.roles import Role
from ivr.store.journal import pending_reports
from ivr.store.postgres import PgDatabase
from ivr.store.users import Users
from ivr.testing import CallScript, make_tone_wav
from ivr.testing.fleet import ConsoleWatcher, Fleet
from ivr.testing.postgres import ThrowawayPostgres
from tests.console_util import PASSWORD
from tests.e2e import report_number

CALLS = int(os.environ.get("ALERTA_FLEET_CALLS", "600"))  # bench/controllers.py: 2,000
AT_ONCE = 60
KEYS = ["1", "2", "1", "#", "1"]  # Spanish, robbery, keep the caller ID, no zone, keep the take
GUARD_S = 180.0  # liveness bounds only: nothing here measures time


async def _store(dsn: str) -> PgDatabase:
    return await PgDatabase(dsn).open()


async def test_two_controllers_one_killed_half_way_lose_nothing(
    pg: ThrowawayPostgres, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    with Fleet.start(tmp_path / "fleet", pg.dsn, controllers=2, consoles=2) as fleet:
        db = await _store(pg.dsn)
        try:
            await Users(db).add("ana", Role.OPERATOR, PASSWORD)
            watchers = [ConsoleWatcher(f"http://127.0.0.1:{c.console_port}", "ana", PASSWORD)
                        for c in fleet.consoles]
            watching = [asyncio.create_task(w.run()) for w in watchers]
            async with asyncio.timeout(GUARD_S):
                await asyncio.gather(*(w.ready.wait() for w in watchers))

            killed_pid = fleet.controllers[0].process.pid
            started = 0
            in_flight = [0, 0]
            half = asyncio.Event()
            gate = asyncio.Semaphore(AT_ONCE)

            async def one(n: int) -> tuple[int, int | None, str | None]:
                nonlocal started
                async with gate:
                    started += 1
                    if started >= CALLS // 2:
                        half.set()
                    first = n % 2
                    in_flight[first] += 1
                    try:
                        where, result = await fleet.call(first, CallScript(
                            keys=KEYS, voice=voice, caller_id=f"9{n:08d}",
                            uniqueid=f"fleet.{n}", language="es", timeout_s=120))
                    finally:
                        in_flight[first] -= 1
                    return where, report_number(result), result.error

            async def killer() -> None:
                await half.wait()
                while in_flight[0] == 0:  # noqa: ASYNC110 - kill it with calls on the line
                    await asyncio.sleep(0.001)
                fleet.kill(0)

            kill_task = asyncio.create_task(killer())
            results = await asyncio.gather(*(one(n) for n in range(CALLS)))
            await kill_task
            heard = [number for _where, number, _error in results if number is not None]
            cut = [r for r in results if r[1] is None]
            assert len(heard) == len(set(heard)), "a number was given to two callers"
            # Only calls on the killed controller at that moment lose their number.
            assert len(heard) >= CALLS - AT_ONCE and fleet.controllers[1].alive()

            # The survivor closes the dead controller's open calls once its lease runs out.
            async with asyncio.timeout(GUARD_S):
                while await db.fetchone(  # noqa: ASYNC110 - polling another process's work
                        "SELECT 1 FROM reports WHERE channel = 'ivr' AND call_ended_at IS NULL"
                        " AND controller = 'controller-1' LIMIT 1"):
                    await asyncio.sleep(0.2)
            # Restarted (as systemd would), the killed controller replays its journal.
            fleet.restart(0)
            journal = fleet.root / "controller-1" / "journal"
            async with asyncio.timeout(GUARD_S):
                while pending_reports(journal):  # noqa: ASYNC110 - another process's file
                    await asyncio.sleep(0.2)

            stored = {int(r["id"]): r for r in await db.fetchall(
                "SELECT id, type, call_ended_at, controller FROM reports")}
            missing = sorted(set(heard) - set(stored))
            assert missing == [], f"reports callers were told but not stored: {missing[:20]}"
            assert {stored[n]["type"] for n in heard} == {"robbery"}
            ids = await db.fetchall("SELECT id, count(*) AS n FROM reports GROUP BY id"
                                    " HAVING count(*) > 1")
            assert ids == []
            assert {where for where, _n, _e in results} == {0, 1}  # both took calls
            assert {r["controller"] for r in stored.values()} <= {"controller-1", "controller-2"}
            open_calls = [n for n, r in stored.items() if r["call_ended_at"] is None]
            assert open_calls == [], f"calls left open: {open_calls[:20]}"
            closed = await db.fetchone(
                "SELECT count(*) AS n FROM events WHERE kind = 'call.ended'"
                " AND data LIKE '%lease%'")
            assert closed is not None
            interrupted = await db.fetchone(
                "SELECT count(*) AS n FROM reports WHERE controller = 'controller-1'"
                " AND call_outcome = 'interrupted'")
            assert interrupted is not None and interrupted["n"] >= closed["n"]
            # Every report's call ended with one 'call.ended' (no double closing).
            twice = await db.fetchall("SELECT report_id FROM events WHERE kind = 'call.ended'"
                                      " GROUP BY report_id HAVING count(*) > 1")
            assert twice == []

            # Both consoles saw every report, those of the killed controller included.
            async with asyncio.timeout(GUARD_S):
                while any(set(stored) - set(w.opened)  # noqa: ASYNC110 - fed by two streams
                          for w in watchers):
                    await asyncio.sleep(0.1)
            for w in watchers:
                assert set(w.opened) >= set(stored)

            # No clip job stays claimed by the dead process: its lease lapses, others take it.
            async with asyncio.timeout(GUARD_S):
                while await db.fetchone(  # noqa: ASYNC110 - polling another process's work
                        "SELECT 1 FROM clip_jobs WHERE state = 'running' AND claimed_by LIKE ?"
                        " LIMIT 1", (f"%:{killed_pid}:%",)):
                    await asyncio.sleep(0.5)
            for task in watching:
                task.cancel()
            await asyncio.gather(*watching, return_exceptions=True)
            print(f"\n{CALLS} calls: {len(heard)} numbers given, {len(cut)} cut by the kill,"
                  f" {len(stored)} reports stored, {closed['n']} calls closed by the survivor")
        finally:
            await db.close()

#!/usr/bin/env python3
"""Benchmark: the DC-09 receiver under a town's alarm panels, over real TCP on loopback.

A store (SQLite by default, or ``--database postgresql://...``) gets ``--devices`` panels
(1,000; every other one with an AES key). The receiver (``ivr.alarms.receiver``) runs in
a process of its own with the store; the panels (lines made and answers read by
my-dc09-spt, a connection per line as most communicators do) run here. Then:

1. **Supervision.** Every panel polls every ``--poll-s`` (90 s), at a random phase, for
   ``--rounds`` rounds (2), while every ``--burst-every-s`` (30 s) a burst of ``--burst``
   (50) alarms goes off at once from different panels; ``--speed`` (10) compresses the
   time (10: a 90 s round lasts 9 s). Printed: ACK latency p50/p99 of the polls and of
   the alarms (from the line's last byte sent to the ACK's CR), and anything not ACKed.
2. **Saturation.** Panels send alarms back to back, ``c`` at a time, for ``--step-s``
   (5 s) at each c in 1, 4, 16, 64, 256: alarms ACKed per second (each one a committed
   signal and report) and latency p50/p99, until the rate stops growing.

    .venv/bin/python bench/alarms.py [--devices 1000] [--speed 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from my_dc09_spt.msg.dc03_msg import dc03_msg  # noqa: E402
from my_dc09_spt.msg.dc09_msg import dc09_msg  # noqa: E402

from ivr.alarms.receiver import start_dc09  # noqa: E402
from ivr.cli import loop_factory  # noqa: E402
from ivr.core.alarms import AlarmIntake  # noqa: E402
from ivr.store import engine as store_engine  # noqa: E402
from ivr.store.alarm_admin import AlarmAdmin  # noqa: E402
from ivr.store.alarms import AlarmStore  # noqa: E402
from ivr.store.reports import utc_now  # noqa: E402

HOST = "127.0.0.1"
WAIT_S = 30.0


def key_of(number: int) -> str | None:
    return f"clave-panel-{number:04d}" if number % 2 else None  # 16 characters


async def add_panels(database: str, devices: int) -> None:
    async with store_engine.database(database) as db:
        admin = AlarmAdmin(db)
        now = utc_now()
        for number in range(devices):
            site = await admin.add_site(1, f"Comercio {number}", address=f"Calle {number}",
                                        actor="bench", now=now)
            key = key_of(number)
            await admin.add_device(1, site, "dc09", f"{number + 0x1000:X}",
                                   keys=[key] if key else None, poll_s=90, actor="bench",
                                   now=now)


def receiver_process(database: str, ports: multiprocessing.Queue[int]) -> None:
    """The receiver and the store, in a process of their own (as in ``alerta serve``)."""

    logging.basicConfig(level=logging.ERROR)  # not a line per alarm: the figures only

    async def serve() -> None:
        async with store_engine.database(database) as db:
            receiver = await start_dc09(AlarmIntake(AlarmStore(db), utc_now), HOST, 0)
            ports.put(receiver.port)
            await asyncio.Event().wait()  # until the bench terminates this process

    factory, _ = loop_factory("auto")
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve())


@dataclass
class Panel:
    number: int
    seq: int = 0
    dc09: dc09_msg = field(init=False)

    def __post_init__(self) -> None:
        key = key_of(self.number)
        self.dc09 = dc09_msg(self.account, key.encode() if key else None, None, 0)

    @property
    def account(self) -> str:
        return f"{self.number + 0x1000:X}"

    def line(self, alarm: bool) -> bytes:
        self.seq = self.seq % 9999 + 1
        if not alarm:
            return self.dc09.dc09block(self.seq).encode()
        event = dc03_msg.dc03event(self.account, {"code": "PA", "zone": 1})
        return self.dc09.dc09block(self.seq, "SIA-DCS", event).encode()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0

    def line(self, name: str) -> str:
        if not self.latencies:
            return f"{name}: none ACKed, {self.failed} failed"
        ms = sorted(x * 1000 for x in self.latencies)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (f"{name}: {len(ms)} ACKed, {self.failed} not; ACK latency p50 "
                f"{statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")


async def exchange(port: int, raw: bytes, tally: Tally) -> None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        tally.failed += 1
        return
    try:
        writer.write(raw)
        await writer.drain()
        sent = time.perf_counter()
        async with asyncio.timeout(WAIT_S):
            answer = await reader.readuntil(b"\r")
        if b'ACK"' in answer:
            tally.latencies.append(time.perf_counter() - sent)
        else:
            tally.failed += 1
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        tally.failed += 1
    finally:
        writer.close()


async def supervision(port: int, panels: list[Panel], args: argparse.Namespace
                      ) -> tuple[Tally, Tally]:
    polls, alarms = Tally(), Tally()
    period = args.poll_s / args.speed
    length = period * args.rounds
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: set[asyncio.Task[None]] = set()

    def later(delay: float, make: Callable[[], bytes], tally: Tally) -> None:
        async def go() -> None:
            await asyncio.sleep(delay)
            await exchange(port, make(), tally)
        tasks.add(loop.create_task(go()))

    chance = random.Random(14)
    for panel in panels:
        phase = chance.uniform(0, period)
        for round_number in range(args.rounds):
            later(phase + round_number * period, lambda p=panel: p.line(False), polls)
    every = args.burst_every_s / args.speed
    for burst in range(1, int(length / every) + 1):
        for panel in chance.sample(panels, args.burst):
            later(burst * every - every / 2, lambda p=panel: p.line(True), alarms)
    await asyncio.gather(*tasks)
    print(f"supervision: {len(panels)} panels polling every {args.poll_s:g} s "
          f"(x{args.speed:g}: {period:.1f} s), {args.rounds} rounds in "
          f"{loop.time() - start:.1f} s, a burst of {args.burst} alarms every "
          f"{args.burst_every_s:g} s")
    return polls, alarms


async def back_to_back(port: int, panels: list[Panel], turn: Iterator[int], until: float,
                       tally: Tally) -> None:
    while time.perf_counter() < until:
        await exchange(port, panels[next(turn) % len(panels)].line(True), tally)


async def saturation(port: int, panels: list[Panel], step_s: float) -> None:
    best = 0.0
    for concurrency in (1, 4, 16, 64, 256):
        tally, turn = Tally(), itertools.count()
        started = time.perf_counter()
        await asyncio.gather(*(back_to_back(port, panels, turn, started + step_s, tally)
                               for _ in range(concurrency)))
        rate = len(tally.latencies) / (time.perf_counter() - started)
        print(f"  {concurrency:3d} at a time: {rate:7.1f} alarms/s; " + tally.line("alarms"))
        if rate < best * 1.1:
            print(f"saturation: about {max(rate, best):.0f} alarms/s (each a committed "
                  "signal and report, then its ACK)")
            return
        best = rate
    print(f"saturation: not reached; {best:.0f} alarms/s at 256 at a time")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or str(Path(tmp) / "alarms.sqlite3")
        began = time.perf_counter()
        await add_panels(database, args.devices)
        print(f"store: {store_engine.describe(database)}; {args.devices} panels added in "
              f"{time.perf_counter() - began:.1f} s")
        context = multiprocessing.get_context("spawn")
        ports: multiprocessing.Queue[int] = context.Queue()
        child = context.Process(target=receiver_process, args=(database, ports), daemon=True)
        child.start()
        try:
            port = await asyncio.to_thread(ports.get, True, WAIT_S)
            panels = [Panel(n) for n in range(args.devices)]
            polls, alarms = await supervision(port, panels, args)
            print("  " + polls.line("polls"))
            print("  " + alarms.line("alarms in bursts"))
            print(f"saturation: alarms back to back, {args.step_s:g} s at each step")
            await saturation(port, panels, args.step_s)
        finally:
            child.terminate()
            child.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--poll-s", type=float, default=90.0)
    parser.add_argument("--speed", type=float, default=10.0,
                        help="time compression of the supervision phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--burst-every-s", type=float, default=30.0)
    parser.add_argument("--step-s", type=float, default=5.0)
    parser.add_argument("--database", default="",
                        help="postgresql://... (default: a fresh SQLite file)")
    args = parser.parse_args()
    factory, _ = loop_factory("auto")
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()

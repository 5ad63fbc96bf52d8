#!/usr/bin/env python3
"""Benchmark: what the metrics add to a FastAGI call on the controller's side.

One ``AgiConnection`` over a transport that takes bytes and drops them: each
round is the controller's side of one command (write the line, the reply
arrives, ``readline()`` takes it), with the reply timer and without it. Then the
per-call hooks: the call counter and the store writes' timer (calls in flight
are counted only when scraped). It prints the best of several runs of this
process's CPU time (the least disturbed by other processes) in microseconds,
and the total for a report call of 56 commands and 6 writes.

    .venv/bin/python bench/metrics_overhead.py [--rounds 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.agi.connection import AgiConnection
from ivr.metrics import Metrics

COMMANDS_PER_CALL = 56
WRITES_PER_CALL = 6
RUNS = 5


class _NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def _commands(rounds: int, timed: bool) -> float:
    metrics = Metrics()
    timer = metrics.agi_command_seconds.observe if timed else None
    conn = AgiConnection(8192, lambda c: None, timer)
    conn.connection_made(_NullTransport())
    line, reply = b"STREAM FILE x \"\"\n", b"200 result=0 endpos=1200\n"
    started = time.process_time()
    for _ in range(rounds):
        conn.write(line)
        conn.data_received(reply)
        await conn.readline()
    return (time.process_time() - started) / rounds


def _per_call(rounds: int) -> float:
    metrics = Metrics()
    started = time.process_time()
    for _ in range(rounds):
        metrics.call_ended("report", "completed", "readback")
        for _ in range(WRITES_PER_CALL):
            metrics.store_write_seconds.observe(0.003)
    return (time.process_time() - started) / rounds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200_000)
    rounds = parser.parse_args().rounds
    bare, timed = [], []
    for _ in range(RUNS):  # interleaved, so a busy spell of the machine hits both alike
        bare.append(await _commands(rounds, False))
        timed.append(await _commands(rounds, True))
    bare_s, timed_s = min(bare), min(timed)
    per_call = min(_per_call(rounds // 10) for _ in range(RUNS))
    command_cost = timed_s - bare_s
    print(f"command round, no timer:   {bare_s * 1e6:6.2f} us")
    print(f"command round, with timer: {timed_s * 1e6:6.2f} us  (+{command_cost * 1e6:.2f} us)")
    print(f"per-call hooks (call counter, {WRITES_PER_CALL} write timers): "
          f"{per_call * 1e6:6.2f} us")
    total = COMMANDS_PER_CALL * command_cost + per_call
    print(f"added per report call ({COMMANDS_PER_CALL} commands): {total * 1e6:6.1f} us")


if __name__ == "__main__":
    asyncio.run(main())

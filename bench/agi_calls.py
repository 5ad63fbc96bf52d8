#!/usr/bin/env python3
"""Benchmark: complete report calls per second through the real FastAGI server.

The controller (server, flows, SQLite store with synchronous=FULL, clip vault)
runs in a child process pinned to one core; fake-Asterisk callers run in this
process (pinned to the other core when there is one) and place full report
calls back to back. For each concurrency level it prints complete calls per
second, the p50/p99 command-reply latency (time from the fake's reply to the
server's next command: what the controller adds per step) and the server's
peak memory.

    .venv/bin/python bench/agi_calls.py [--levels 50,500,2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ["1", "2", "1", "#", "1"]


def _pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def serve(workdir: Path, port_file: Path) -> None:
    """Child process: the whole controller on one core."""
    _pin(0)
    from ivr.agi.server import AgiServer
    from ivr.app import services
    from ivr.config import Settings
    from ivr.flows import routes

    settings = dataclasses.replace(
        Settings(),
        database=workdir / "bench.sqlite3",
        voiceclips=workdir / "voiceclips",
        prompts=ROOT / "prompts",
        agi_port=0,
        agi_backlog=4096,
        agi_max_calls=5000,
        log_level="WARNING",
    )

    async def main() -> None:
        async with services(settings) as svc:
            server = AgiServer(settings, routes(svc.deps))
            await server.start()
            port_file.write_text(str(server.port))  # noqa: ASYNC240 (once, at start)
            await asyncio.Event().wait()

    asyncio.run(main())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


async def level(port: int, concurrency: int, seconds: float, voice: Path) -> dict[str, float]:
    from ivr.testing import CallScript, place_call

    latencies: list[float] = []
    done = 0
    failed = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        while time.perf_counter() < stop_at:
            result = await place_call(
                "127.0.0.1", port, CallScript(keys=KEYS, voice=voice, timeout_s=120)
            )
            if result.error or "ALERTA_REPORT" not in result.variables or result.hung_up:
                failed += 1
            else:
                done += 1
                latencies.extend(result.command_latencies)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "calls_per_s": done / elapsed,
        "complete": done,
        "failed": failed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="50,500,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.serve / "port")
        return

    from ivr.testing import make_tone_wav

    with tempfile.TemporaryDirectory(prefix="alerta-bench-") as tmp:
        work = Path(tmp)
        voice = make_tone_wav(work / "voice.wav", 1.0)
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(work)])
        try:
            for _ in range(200):
                if (work / "port").exists() and (work / "port").read_text():
                    break
                time.sleep(0.05)
            port = int((work / "port").read_text())
            _pin(1)
            print(f"server pid {child.pid} pinned to one core; callers on another; "
                  f"{args.seconds:.0f} s per level; full report call "
                  f"({len(KEYS)} inputs, 1 s message)")
            print(f"{'concurrent':>10} {'calls/s':>9} {'complete':>9} {'failed':>7} "
                  f"{'p50 ms':>7} {'p99 ms':>7} {'peak MB':>8}")
            for n in (int(x) for x in args.levels.split(",")):
                reset_peak(child.pid)
                figures = asyncio.run(level(port, n, args.seconds, voice))
                print(f"{n:>10} {figures['calls_per_s']:>9.1f} {figures['complete']:>9.0f} "
                      f"{figures['failed']:>7.0f} {figures['p50_ms']:>7.2f} "
                      f"{figures['p99_ms']:>7.2f} {peak_rss_mb(child.pid):>8.1f}", flush=True)
        finally:
            child.terminate()
            child.wait(10)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: complete report calls per second through the real FastAGI server.

The controller (server, flows, SQLite store with synchronous=FULL, clip vault)
runs in a child process pinned to one core. Fake-Asterisk callers place full
report calls back to back, with no pause between commands, from caller
processes pinned to the other cores (one process per core; on a 2-core
machine, one). For each concurrency level it prints complete calls per second,
the p50/p99 command-reply latency and the server's peak memory, then how busy
the controller's core and the callers' cores were while the callers ran: that
says which side was the limit.

The latency is the time from the fake's reply leaving to the server's next
command arriving: what the controller adds per step, queueing included. The
fake stamps each command as its bytes arrive (in its protocol callback), so the
callers' own backlog is not counted as the server's. In this closed loop,
Little's law ties the figures together: N concurrent calls of 56 commands, at
C calls/s, leave each command about N / (56 x C) seconds for its round trip,
server side and caller side together.

    .venv/bin/python bench/agi_calls.py [--levels 50,500,2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ["1", "2", "1", "#", "1"]


def _pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def serve(workdir: Path, port_file: Path, cpu: int) -> None:
    """Child process: the whole controller on one core."""
    _pin(cpu)
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

    async def run() -> None:
        async with services(settings) as svc:
            server = AgiServer(settings, routes(svc.deps))
            await server.start()
            port_file.write_text(str(server.port))  # noqa: ASYNC240 (once, at start)
            await asyncio.Event().wait()

    asyncio.run(run())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a whole process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


@dataclasses.dataclass
class CallerFigures:
    done: int = 0
    failed: int = 0
    elapsed: float = 0.0
    cpu_s: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)


def callers(
    port: int, concurrency: int, seconds: float, voice: Path, cpu: int, out: Connection
) -> None:
    """One caller process: ``concurrency`` fake callers on core ``cpu`` for ``seconds``."""
    _pin(cpu)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started_cpu = usage.ru_utime + usage.ru_stime
    figures = asyncio.run(_callers(port, concurrency, seconds, voice))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.cpu_s = usage.ru_utime + usage.ru_stime - started_cpu
    out.send(figures)
    out.close()


async def _callers(port: int, concurrency: int, seconds: float, voice: Path) -> CallerFigures:
    from ivr.testing import CallScript, place_call

    figures = CallerFigures()
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            result = await place_call(
                "127.0.0.1", port, CallScript(keys=KEYS, voice=voice, timeout_s=120)
            )
            if result.error or "ALERTA_REPORT" not in result.variables or result.hung_up:
                figures.failed += 1
            else:
                figures.done += 1
                figures.latencies.extend(result.command_latencies)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    figures.elapsed = time.perf_counter() - started
    return figures


def level(
    server_pid: int, port: int, concurrency: int, seconds: float, voice: Path, cpus: list[int]
) -> dict[str, float]:
    """One concurrency level, its callers spread evenly over the caller cores."""
    shares = [concurrency // len(cpus) + (i < concurrency % len(cpus)) for i in range(len(cpus))]
    spawn = multiprocessing.get_context("spawn")
    procs, pipes = [], []
    for share, cpu in zip(shares, cpus, strict=True):
        if share:
            mine, theirs = spawn.Pipe(duplex=False)
            proc = spawn.Process(target=callers, args=(port, share, seconds, voice, cpu, theirs))
            proc.start()
            procs.append(proc)
            pipes.append(mine)
    server_cpu = cpu_seconds(server_pid)
    parts: list[CallerFigures] = [pipe.recv() for pipe in pipes]
    server_cpu = cpu_seconds(server_pid) - server_cpu
    for proc in procs:
        proc.join()
    elapsed = max(part.elapsed for part in parts)
    latencies = sorted(x for part in parts for x in part.latencies)
    done = sum(part.done for part in parts)

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "calls_per_s": done / elapsed,
        "complete": done,
        "failed": sum(part.failed for part in parts),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        # Share of one core used while the callers ran (the server idles before they start).
        "server_busy": 100 * server_cpu / elapsed,
        "callers_busy": 100 * sum(part.cpu_s for part in parts) / elapsed / len(parts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="50,500,2000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.serve / "port", args.cpu)
        return

    from ivr.testing import make_tone_wav

    cpus = sorted(os.sched_getaffinity(0))
    controller = cpus[0]
    caller_cpus = cpus[1:] or cpus  # a 1-core machine: callers share the controller's core
    with tempfile.TemporaryDirectory(prefix="alerta-bench-") as tmp:
        work = Path(tmp)
        voice = make_tone_wav(work / "voice.wav", 1.0)
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(work), "--cpu", str(controller)]
        )
        try:
            for _ in range(200):
                if (work / "port").exists() and (work / "port").read_text():
                    break
                time.sleep(0.05)
            port = int((work / "port").read_text())
            _pin(caller_cpus[0])  # this process only waits; keep it off the controller's core
            shared = " (sharing the controller's!)" if caller_cpus == [controller] else ""
            print(f"server pid {child.pid} pinned to core {controller}; callers: "
                  f"{len(caller_cpus)} process(es) on core(s) "
                  f"{','.join(map(str, caller_cpus))}{shared}; {args.seconds:.0f} s per level; "
                  f"full report call ({len(KEYS)} inputs, 1 s message)")
            print(f"{'concurrent':>10} {'calls/s':>9} {'complete':>9} {'failed':>7} "
                  f"{'p50 ms':>7} {'p99 ms':>7} {'peak MB':>8} {'server%':>8} {'callers%':>9}")
            for n in (int(x) for x in args.levels.split(",")):
                reset_peak(child.pid)
                f = level(child.pid, port, n, args.seconds, voice, caller_cpus)
                print(f"{n:>10} {f['calls_per_s']:>9.1f} {f['complete']:>9.0f} "
                      f"{f['failed']:>7.0f} {f['p50_ms']:>7.2f} {f['p99_ms']:>7.2f} "
                      f"{peak_rss_mb(child.pid):>8.1f} {f['server_busy']:>8.0f} "
                      f"{f['callers_busy']:>9.0f}", flush=True)
        finally:
            child.terminate()
            child.wait(10)


if __name__ == "__main__":
    main()

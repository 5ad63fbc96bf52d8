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

``--open-loop`` measures what matters in production instead: calls arriving
at a fixed rate, every prompt taking its real length (bench/open_loop.py), so
that 1,000 or 3,500 calls are in flight on the controller's one core. For each
level it runs, one fresh server process after another, the controller on the
stdlib loop and on uvloop and the floor (bench/agi_floor.py, a bare asyncio
FastAGI server with no store) on both loops, and prints the added latency per
command (p50/p99/p99.9/max), calls/s, the server's CPU per call and peak
memory, then each one's CPU per call as a ratio to the floor's:

    .venv/bin/python bench/agi_calls.py --open-loop [--in-flight 1000,3500] [--window 30]
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
sys.path.insert(0, str(ROOT / "bench"))

KEYS = ["1", "2", "1", "#", "1"]


def _pin(cpu: int) -> None:
    import open_loop

    open_loop.pin(cpu)


def serve(workdir: Path, port_file: Path, cpu: int, loop_name: str = "asyncio") -> None:
    """Child process: the whole controller on one core, set up as ``alerta serve`` does."""
    import open_loop

    open_loop.pin(cpu)
    open_loop.watch_collector(workdir)
    from ivr.agi.server import AgiServer
    from ivr.app import services
    from ivr.cli import loop_factory, settle_heap
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
            server = AgiServer(settings.agi, routes(svc.deps))
            await server.start()
            settle_heap()
            port_file.write_text(str(server.port))  # noqa: ASYNC240 (once, at start)
            await asyncio.Event().wait()

    factory, _ = loop_factory(loop_name)
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run())


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
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--open-loop", action="store_true",
                        help="calls at a fixed rate, prompts at their real length")
    parser.add_argument("--in-flight", default="1000,3500", help="open loop: calls in flight")
    parser.add_argument("--window", type=float, default=30.0, help="open loop: seconds measured")
    parser.add_argument("--servers", default="controller,floor",
                        help="open loop: which servers to run (controller, floor)")
    parser.add_argument("--loops", default="", help="open loop: asyncio,uvloop (default: all)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.serve / "port", args.cpu, args.loop)
        return
    if args.open_loop:
        open_loop_levels(args)
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


def open_loop_levels(args: argparse.Namespace) -> None:
    import agi_floor
    import open_loop

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, caller_cpus = cpus[0], cpus[1:] or cpus
    sequence = agi_floor.SEQUENCE
    call_s = open_loop.call_seconds(sequence)
    loops = args.loops.split(",") if args.loops else agi_floor.loops_available()
    scripts = {"controller": __file__, "floor": agi_floor.__file__}
    open_loop.pin(caller_cpus[0])
    print(f"servers on core {server_cpu}, callers on {caller_cpus}, nice {open_loop.priority()}; "
          f"one call: "
          f"{len(sequence)} commands, {call_s:.1f} s; {args.window:.0f} s measured after a "
          f"warm-up of one call; load = 1/5/15-min load average at the end of the window")
    with tempfile.TemporaryDirectory(prefix="alerta-open-") as tmp:
        for level in (int(x) for x in args.in_flight.split(",")):
            print(f"\n{level} calls in flight\n{open_loop.HEADER}", flush=True)
            runs = []
            for kind in args.servers.split(","):
                for loop_name in loops:
                    name = f"{kind}/{loop_name}"
                    argv = [scripts[kind], "--cpu", str(server_cpu), "--loop", loop_name]
                    runs.append(open_loop.run(
                        name, argv, Path(tmp) / f"{level}-{kind}-{loop_name}",
                        in_flight=level, call_s=call_s, commands_per_call=len(sequence),
                        window_s=args.window, caller_cpus=caller_cpus))
                    print(open_loop.row(runs[-1]), flush=True)
                    print(open_loop.slow_commands(runs[-1]), flush=True)
            open_loop.compare(runs, "floor/asyncio", print)


if __name__ == "__main__":
    main()

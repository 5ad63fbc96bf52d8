"""Open-loop FastAGI load: calls arrive at a fixed rate and every prompt takes its real length.

Shared by ``agi_calls.py --open-loop`` (the controller) and ``agi_floor.py`` (a
bare asyncio FastAGI server, the floor). The simulated Asterisk lives in its
own process(es), pinned away from the server's core. It answers each command
after the time a real caller would take: STREAM FILE after the prompt's own
length (read from its WAV header, as in ../shared/captures/), GET DATA after
the prompt plus ``KEY_AFTER_S`` for the key, RECORD FILE after the message
(``MESSAGE_S``, the WAV written to the path asked for), the rest at once. So
many calls are in flight at once: in flight = arrival rate x call length.

The figure that matters is the server's added latency per command: the time
from the reply leaving the simulated Asterisk to the server's next command
arriving, stamped with the monotonic clock in the protocol callback as the
bytes arrive. Arrivals run for a warm-up of one call length (so the number in
flight reaches its steady state), then a measured window; calls still open at
the end are cut.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ("1", "2", "1", "#", "1")  # language, incident type, callback ok, no zone, keep message
CALLER_ID = "991234567"  # the capture's caller: nine digits read back
KEY_AFTER_S = 1.0  # a caller presses a key this long after a GET DATA prompt ends
MESSAGE_S = 4.0  # the spoken message (the capture's caller hung up after 3.4 s)
SAMPLE_RATE = 8000
SLOW_S = 0.050  # commands slower than this are counted by kind
TICK_S = 0.005  # how often the arrival clock starts the calls that are due


# Eight other agents share this machine's two cores: the server and the callers ask for a
# higher scheduling priority (root only; otherwise they run at the normal one), so that
# what is measured is the server and not the neighbours' use of its core.
PRIORITY = -10


def pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    try:
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    except OSError:
        pass


def priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


_durations: dict[str, float] = {}


def prompt_seconds(path: str) -> float:
    """How long Asterisk plays ``path`` (a prompt named without its ``.wav``)."""
    seconds = _durations.get(path)
    if seconds is None:
        try:
            with wave.open(path + ".wav", "rb") as reader:
                seconds = reader.getnframes() / reader.getframerate()
        except (OSError, wave.Error, EOFError):
            seconds = 1.0
        _durations[path] = seconds
    return seconds


def split_words(line: str) -> list[str]:
    """Enough of Asterisk's argument splitting for the commands of a report call."""
    words: list[str] = []
    for i, part in enumerate(line.split('"')):
        if i % 2:
            words.append(part)
        else:
            words.extend(part.split())
    return words


def wav_bytes(seconds: float) -> bytes:
    """A quiet-noise telephone WAV, written for every RECORD FILE."""
    import struct

    frames = bytes((i * 37) % 7 for i in range(int(seconds * SAMPLE_RATE) * 2))
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(frames)) + frames


@dataclasses.dataclass
class Window:
    start: float
    end: float


@dataclasses.dataclass
class Figures:
    """One caller process's share of a run."""

    started: int = 0
    completed: int = 0  # calls that ended in the window with a report number and a HANGUP
    failed: int = 0  # calls that ended in the window any other way
    commands: int = 0  # commands that arrived in the window
    in_flight: list[int] = dataclasses.field(default_factory=list)  # sampled in the window
    latencies: list[float] = dataclasses.field(default_factory=list)
    slow: dict[str, int] = dataclasses.field(default_factory=dict)  # command kind -> count
    cpu_s: float = 0.0
    busy: float = 0.0


class PacedCall(asyncio.BufferedProtocol):
    """One simulated Asterisk call: answers each command after its real duration."""

    buffer = memoryview(bytearray(1 << 16))

    def __init__(self, env: bytes, keys: Sequence[str], message: bytes, figures: Figures,
                 window: Window, calls: set[PacedCall]) -> None:
        self.env = env
        self.keys = list(keys)
        self.message = message
        self.figures = figures
        self.window = window
        self.calls = calls
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.partial = b""
        self.replied_at = 0.0
        self.reported = False
        self.hung_up = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.calls.add(self)
        self.transport.write(self.env)
        self.replied_at = time.perf_counter()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        arrived = time.perf_counter()
        data = self.partial + bytes(self.buffer[:nbytes])
        *lines, self.partial = data.split(b"\n")
        for raw in lines:
            window = self.window
            if window.start <= arrived <= window.end:
                figures = self.figures
                figures.commands += 1
                latency = arrived - self.replied_at
                figures.latencies.append(latency)
                if latency > SLOW_S:
                    kind = b" ".join(raw.split(b" ", 3)[:3]).decode("utf-8", "replace")
                    figures.slow[kind] = figures.slow.get(kind, 0) + 1
            self.answer(raw.decode("utf-8", "replace"))

    def answer(self, line: str) -> None:
        delay, reply = 0.0, "200 result=0"
        if line.startswith("STREAM FILE"):
            seconds = prompt_seconds(split_words(line)[2])
            delay, reply = seconds, f"200 result=0 endpos={int(seconds * SAMPLE_RATE)}"
        elif line.startswith("GET DATA"):
            typed = self.keys.pop(0) if self.keys else ""
            delay = prompt_seconds(split_words(line)[2]) + KEY_AFTER_S
            reply = f"200 result={typed.rstrip('#')}"
        elif line.startswith("SET VARIABLE"):
            reply = "200 result=1"
            self.reported = self.reported or line.startswith("SET VARIABLE ALERTA_REPORT")
        elif line.startswith("RECORD FILE"):
            words = split_words(line)
            with open(f"{words[2]}.{words[3]}", "wb") as clip:
                clip.write(self.message)
            samples = (len(self.message) - 44) // 2
            delay, reply = MESSAGE_S, f"200 result=35 (dtmf) endpos={samples}"
        elif line == "HANGUP":
            self.hung_up = True
            reply = "200 result=1\nHANGUP"
        elif not line.startswith(("ANSWER", "EXEC", "GET VARIABLE", "VERBOSE")):
            reply = "510 Invalid or unknown command"
        if delay > 0:
            self.timer = self.loop.call_later(delay, self.send, reply)
        else:
            self.send(reply)

    def send(self, reply: str) -> None:
        self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply.encode() + b"\n")
            self.replied_at = time.perf_counter()

    def eof_received(self) -> bool:
        return False  # the server closed: so do we

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        now = time.perf_counter()
        if self.window.start <= now <= self.window.end:
            if self.reported and self.hung_up and not self.keys:
                self.figures.completed += 1
            else:
                self.figures.failed += 1


def environment(port: int, uniqueid: str, number: int) -> bytes:
    from ivr.testing.agi_wire import environment_block

    lines = environment_block(
        script="report", request=f"agi://127.0.0.1:{port}/report",
        channel=f"PJSIP/sipp-{number:08x}", uniqueid=uniqueid, language="es",
        caller_id=CALLER_ID, caller_name="Juan Perez", threadid=140380041455296 + number,
        extra={},
    )
    return "".join(line + "\n" for line in lines).encode()


def callers(port: int, rate: float, first: int, step: int, t0: float, window: Window,
            cpu: int, out: Connection) -> None:
    """One caller process: calls ``first, first + step, ...`` arriving at ``rate`` per second."""
    pin(cpu)
    figures = asyncio.run(_callers(port, rate, first, step, t0, window))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.cpu_s = usage.ru_utime + usage.ru_stime
    out.send(figures)
    out.close()


async def _callers(port: int, rate: float, first: int, step: int, t0: float,
                   window: Window) -> Figures:
    loop = asyncio.get_running_loop()
    figures = Figures()
    calls: set[PacedCall] = set()
    message = wav_bytes(MESSAGE_S)
    pending: set[asyncio.Task[object]] = set()
    number = first
    next_sample = window.start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_at_start = None

    def dial(n: int) -> None:
        env = environment(port, f"1796287189.{n}", n)
        task = loop.create_task(loop.create_connection(
            lambda: PacedCall(env, KEYS, message, figures, window, calls), "127.0.0.1", port))
        pending.add(task)
        task.add_done_callback(pending.discard)

    while True:
        now = time.perf_counter()
        if now > window.end:
            break
        while t0 + number / rate <= now:
            dial(number)
            figures.started += 1
            number += step
        if now >= next_sample:
            if cpu_at_start is None:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu_at_start = usage.ru_utime + usage.ru_stime
            figures.in_flight.append(len(calls))
            next_sample += 1.0
        await asyncio.sleep(TICK_S)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if cpu_at_start is not None:
        used = usage.ru_utime + usage.ru_stime - cpu_at_start
        figures.busy = used / (window.end - window.start)
    for call in list(calls):
        if call.transport is not None:
            call.transport.abort()
    for task in pending:
        task.cancel()
    await asyncio.sleep(0.1)
    return figures


# --- the server side: a child process, its CPU, memory and collector pauses --------------


def watch_collector(workdir: Path) -> None:
    """In the server process: time every collection; SIGUSR1 starts over, SIGTERM reports.

    The report (``gc.json``: per generation, how many and the longest pause in ms)
    covers the measured window only: the parent sends SIGUSR1 as it opens.
    """
    import gc
    import json
    import signal

    stats: dict[int, list[float]] = {}
    started = [0.0]

    def reset(*_: object) -> None:
        stats.clear()
        stats.update({0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]})

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        entry = stats[info["generation"]]
        entry[0] += 1
        entry[1] = max(entry[1], (time.perf_counter() - started[0]) * 1000)

    def report(*_: object) -> None:
        (workdir / "gc.json").write_text(json.dumps(stats))
        os._exit(0)

    reset()
    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGTERM, report)


def collector_pauses(workdir: Path) -> str:
    """``gen2 3x, longest 120 ms`` from the server's gc.json (see ``watch_collector``)."""
    import json

    try:
        stats = json.loads((workdir / "gc.json").read_text())
    except (OSError, ValueError):
        return "?"
    return " ".join(f"g{gen}:{int(n)}x<={longest:.0f}ms" for gen, (n, longest) in stats.items())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a whole process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_server(argv: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / "port"
    child = subprocess.Popen([sys.executable, *argv, "--serve", str(workdir)])
    for _ in range(600):
        if port_file.exists() and port_file.read_text():
            return child, int(port_file.read_text())
        if child.poll() is not None:
            raise RuntimeError(f"server {argv} exited with {child.returncode}")
        time.sleep(0.05)
    child.terminate()
    raise RuntimeError(f"server {argv} did not start")


@dataclasses.dataclass
class RunFigures:
    name: str
    in_flight: float
    calls_per_s: float
    completed: int
    failed: int
    commands: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    cpu_ms_per_call: float
    peak_mb: float
    server_busy: float
    callers_busy: float
    load: str
    collector: str
    slow: dict[str, int]


def run(name: str, argv: list[str], workdir: Path, *, in_flight: int, call_s: float,
        commands_per_call: int, window_s: float, caller_cpus: list[int]) -> RunFigures:
    """One server process under one open-loop load: start, warm up, measure, stop."""
    workdir.mkdir(parents=True, exist_ok=True)
    child, port = start_server(argv, workdir)
    try:
        rate = in_flight / call_s
        t0 = time.perf_counter() + 1.0
        window = Window(t0 + call_s + 2.0, t0 + call_s + 2.0 + window_s)
        spawn = multiprocessing.get_context("spawn")
        procs, pipes = [], []
        for i, cpu in enumerate(caller_cpus):
            mine, theirs = spawn.Pipe(duplex=False)
            args = (port, rate / len(caller_cpus), i, len(caller_cpus), t0, window, cpu, theirs)
            proc = spawn.Process(target=callers, args=args)
            proc.start()
            procs.append(proc)
            pipes.append(mine)
        time.sleep(max(0.0, window.start - time.perf_counter()))
        child.send_signal(signal.SIGUSR1)
        cpu_start = cpu_seconds(child.pid)
        time.sleep(max(0.0, window.end - time.perf_counter()))
        server_cpu = cpu_seconds(child.pid) - cpu_start
        load = load_average()
        parts: list[Figures] = [pipe.recv() for pipe in pipes]
        for proc in procs:
            proc.join()
        peak = peak_rss_mb(child.pid)
    finally:
        child.terminate()
        child.wait(30)
    collector = collector_pauses(workdir)
    latencies = sorted(x for part in parts for x in part.latencies)
    commands = sum(part.commands for part in parts)

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    samples = [sum(x) for x in zip(*(part.in_flight for part in parts), strict=False)]
    calls_in_window = commands / commands_per_call
    return RunFigures(
        name=name,
        in_flight=sum(samples) / len(samples) if samples else 0.0,
        calls_per_s=sum(part.completed for part in parts) / window_s,
        completed=sum(part.completed for part in parts),
        failed=sum(part.failed for part in parts),
        commands=commands,
        p50_ms=pct(0.50), p99_ms=pct(0.99), p999_ms=pct(0.999),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        cpu_ms_per_call=1000 * server_cpu / calls_in_window if calls_in_window else float("nan"),
        peak_mb=peak,
        server_busy=100 * server_cpu / window_s,
        callers_busy=100 * sum(part.busy for part in parts) / len(parts),
        load=load,
        collector=collector,
        slow={k: sum(p.slow.get(k, 0) for p in parts) for k in {k for p in parts for k in p.slow}},
    )


HEADER = (f"{'server':<18} {'in flight':>9} {'calls/s':>8} {'ok':>6} {'failed':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'CPU ms/call':>11} "
          f"{'peak MB':>8} {'server%':>7} {'callers%':>8}  load / collections: count<=longest")


def row(f: RunFigures) -> str:
    return (f"{f.name:<18} {f.in_flight:>9.0f} {f.calls_per_s:>8.1f} {f.completed:>6} "
            f"{f.failed:>6} {f.p50_ms:>7.2f} {f.p99_ms:>7.2f} {f.p999_ms:>8.2f} {f.max_ms:>7.1f} "
            f"{f.cpu_ms_per_call:>11.2f} {f.peak_mb:>8.1f} {f.server_busy:>7.0f} "
            f"{f.callers_busy:>8.0f}  {f.load} / {f.collector}")


def slow_commands(f: RunFigures, top: int = 4) -> str:
    """The kinds of command most often slower than SLOW_S."""
    ranked = sorted(f.slow.items(), key=lambda item: -item[1])[:top]
    total = sum(f.slow.values())
    return f"  over {SLOW_S * 1000:.0f} ms: {total} commands; " + ", ".join(
        f"{count} {kind}" for kind, count in ranked)


def call_seconds(sequence: Sequence[str], keys: Sequence[str] = KEYS) -> float:
    """How long one call of ``sequence`` lasts when every prompt takes its real length."""
    total = 0.0
    for line in sequence:
        if line.startswith("STREAM FILE"):
            total += prompt_seconds(split_words(line)[2])
        elif line.startswith("GET DATA"):
            total += prompt_seconds(split_words(line)[2]) + KEY_AFTER_S
        elif line.startswith("RECORD FILE"):
            total += MESSAGE_S
    return total


def compare(runs: list[RunFigures], floor_name: str, print_: Callable[[str], None]) -> None:
    """CPU per call of every run as a ratio to the floor's."""
    floor = next((r for r in runs if r.name == floor_name), None)
    if floor is None:
        return
    for r in runs:
        print_(f"  {r.name:<18} CPU per call {r.cpu_ms_per_call:6.2f} ms = "
               f"{r.cpu_ms_per_call / floor.cpu_ms_per_call:4.2f} x {floor_name}")

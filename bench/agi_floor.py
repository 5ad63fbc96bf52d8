#!/usr/bin/env python3
"""The floor: a bare asyncio FastAGI server sending a report call's commands, with no store.

It reads the environment block, then sends the command lines of one real
report call of our flow (copied below from a transcript of ``alerta serve``
against the fake Asterisk, with the bench's keys) one by one, each after the
previous reply, and closes. No flow, no database, no clip handling: what any
asyncio FastAGI server must spend on the same conversation. The controller's
CPU per call is measured against it (``agi_calls.py --open-loop``).

It is written the way a bare asyncio server usually is: ``asyncio.start_server``
with a StreamReader and StreamWriter per connection, ``readline()`` per reply.

Standalone, it serves under the open-loop load on one core and prints its
figures, on the stdlib loop and on uvloop (when installed):

    .venv/bin/python bench/agi_floor.py [--in-flight 1000,3500] [--window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

P = str(ROOT / "prompts" / "es")
ALL = '"0123456789*#"'
# From a transcript of the real report flow (language es, caller ID 991234567, keys
# 1,2,1,#,1). {clip} and {report} change per call, as they do in the controller's.
SEQUENCE = [
    "ANSWER",
    'SET VARIABLE ALERTA_STEP "language"',
    f'STREAM FILE {P}/greeting "12"',
    f'STREAM FILE {P}/language_option "12"',
    f'STREAM FILE {P}/digit_1 "12"',
    f'STREAM FILE {P}/language_option "12"',
    f"GET DATA {P}/digit_2 4000 1",
    'SET VARIABLE CHANNEL(language) "es"',
    'SET VARIABLE ALERTA_STEP "menu"',
    *(f"STREAM FILE {P}/{name} {ALL}" for name in [
        "menu_intro", "type_emergency", "press", "digit_1", "type_robbery", "press", "digit_2",
        "type_suspicious", "press", "digit_3", "type_noise", "press", "digit_4",
        "type_accident", "press", "digit_5", "type_other", "press", "digit_6",
        "option_status", "press", "digit_9", "option_operator", "press"]),
    f"GET DATA {P}/digit_0 6000 1",
    'SET VARIABLE ALERTA_REPORT "{report}"',
    'SET VARIABLE ALERTA_STEP "callback"',
    *(f"STREAM FILE {P}/{name} {ALL}" for name in [
        "callback_is", "digit_9", "digit_9", "digit_1", "digit_2", "digit_3", "digit_4",
        "digit_5", "digit_6", "digit_7"]),
    f"GET DATA {P}/callback_confirm 6000 1",
    'SET VARIABLE ALERTA_STEP "zone"',
    f"GET DATA {P}/zone_enter 6000 4",
    'SET VARIABLE ALERTA_STEP "record"',
    f'STREAM FILE {P}/record_instructions ""',
    f'STREAM FILE {P}/beep ""',
    'RECORD FILE {clip} wav "#" 120000 s=5',
    'SET VARIABLE ALERTA_STEP "review"',
    f"GET DATA {P}/review_menu 6000 1",
    'SET VARIABLE ALERTA_STEP "readback"',
    f'STREAM FILE {P}/message_saved ""',
    f'STREAM FILE {P}/report_number_is ""',
    f'STREAM FILE {P}/digit_1 ""',
    f'STREAM FILE {P}/thanks_goodbye ""',
    "HANGUP",
]


def serve(workdir: Path, cpu: int, loop_name: str) -> None:
    """Child process: the floor server on one core, on the loop asked for."""
    import open_loop

    open_loop.pin(cpu)
    open_loop.watch_collector(workdir)
    incoming = workdir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    reports = itertools.count(1)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        try:
            while line := (await reader.readline()).rstrip(b"\r\n"):
                name, _, value = line.decode().partition(": ")
                env[name] = value
            uniqueid = env.get("agi_uniqueid", "0")
            report = next(reports)
            clip = f"{incoming}/{uniqueid}-r{report}-t1"
            for command in SEQUENCE:
                writer.write(command.format(report=report, clip=clip).encode() + b"\n")
                await writer.drain()
                reply = await reader.readline()
                if not reply.startswith(b"200"):
                    break
        except (ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        (workdir / "port").write_text(str(port))
        await asyncio.Event().wait()

    run_on(loop_name, main)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run_on(loop_name: str, main: Callable[[], object]) -> None:
    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        runner.run(main())  # type: ignore[arg-type]


def loops_available() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return ["asyncio"]
    return ["asyncio", "uvloop"]


def main() -> None:
    import open_loop

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", default="1000,3500", help="calls in flight, per level")
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds per run")
    parser.add_argument("--loops", default=",".join(loops_available()))
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.cpu, args.loop)
        return
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, caller_cpus = cpus[0], cpus[1:] or cpus
    call_s = open_loop.call_seconds(SEQUENCE)
    open_loop.pin(caller_cpus[0])
    print(f"floor on core {server_cpu}, callers on {caller_cpus}, nice {open_loop.priority()}; "
          f"one call: {len(SEQUENCE)} "
          f"commands, {call_s:.1f} s; {args.window:.0f} s measured after a warm-up of one call")
    with tempfile.TemporaryDirectory(prefix="alerta-floor-") as tmp:
        for level in (int(x) for x in args.in_flight.split(",")):
            print(f"\n{level} calls in flight\n{open_loop.HEADER}")
            runs = []
            for loop_name in args.loops.split(","):
                argv = [__file__, "--cpu", str(server_cpu), "--loop", loop_name]
                runs.append(open_loop.run(
                    f"floor/{loop_name}", argv, Path(tmp) / f"{level}-{loop_name}",
                    in_flight=level, call_s=call_s, commands_per_call=len(SEQUENCE),
                    window_s=args.window, caller_cpus=caller_cpus))
                print(open_loop.row(runs[-1]), flush=True)
                print(open_loop.slow_commands(runs[-1]), flush=True)
            open_loop.compare(runs, "floor/asyncio", print)


if __name__ == "__main__":
    main()

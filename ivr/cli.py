"""The ``alerta`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ivr import __version__
from ivr.config import SCALARS, Settings, load
from ivr.domain.incidents import ConfigError

logger = logging.getLogger("ivr")

STEPS = ("language", "menu", "callback", "zone", "record", "review", "readback", "status")
# A step with no keypad input hangs up during its first prompt instead.
PLAYBACK_STEPS = {"readback": ("STREAM FILE",)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alerta",
        description="alerta-ivr: citizen incident reports by telephone.",
        epilog="Settings: --config FILE (TOML) and ALERTA_* environment variables; "
        "see the README's settings table.",
    )
    parser.add_argument("--version", action="version", version=f"alerta-ivr {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file (or ALERTA_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run the FastAGI controller (the main job)")

    call = sub.add_parser("call", help="place one simulated call against a running server")
    call.add_argument("--keys", default="", help="answers to each input, e.g. 1,2,1,#,1")
    call.add_argument("--voice", type=Path, help="WAV (8 kHz mono 16-bit) the caller speaks")
    who = call.add_mutually_exclusive_group()
    who.add_argument("--caller-id", default="5551234", help="the caller's number")
    who.add_argument("--anonymous", action="store_true", help="withhold the caller's number")
    call.add_argument("--hangup-at", choices=STEPS, help="hang up during this step")
    call.add_argument("--agi", default=None, help="HOST:PORT of the FastAGI server")
    call.add_argument("--script", default="report", help="flow to run (report, status)")

    reports = sub.add_parser("reports", help="list stored reports")
    reports.add_argument("--json", action="store_true", help="print JSON")
    reports.add_argument("--limit", type=int, default=None)

    directory = sub.add_parser("directory", help="the caller directory")
    dsub = directory.add_subparsers(dest="directory_command", required=True, metavar="ACTION")
    imp = dsub.add_parser("import", help="load number,address,zone,lat,lon rows from a CSV file")
    imp.add_argument("file", type=Path)

    sub.add_parser("settings", help="print the effective settings and their documentation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"alerta: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = {
        "serve": _serve,
        "call": _call,
        "reports": _reports,
        "directory": _directory,
        "settings": _settings,
    }[args.command]
    try:
        return asyncio.run(handler(settings, args))
    except KeyboardInterrupt:
        return 130


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.agi.server import AgiServer
    from ivr.app import services
    from ivr.flows import routes

    async with services(settings) as svc:
        server = AgiServer(settings, routes(svc.deps))
        await server.start()
        logger.info("FastAGI listening on %s:%d", settings.agi_host, server.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("shutting down: letting %d call(s) finish", server.active_calls)
        await server.stop()
    return 0


async def _call(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.testing import CallScript, place_call

    host, port = settings.agi_host, settings.agi_port
    if args.agi:
        host, _, port_text = args.agi.rpartition(":")
        port = int(port_text)
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else []
    script = CallScript(
        keys=keys,
        voice=args.voice,
        caller_id=None if args.anonymous else args.caller_id,
        script=args.script,
        hangup_at=args.hangup_at,
        hangup_on=PLAYBACK_STEPS.get(args.hangup_at or "", CallScript.hangup_on),
    )
    result = await place_call(host or "127.0.0.1", port, script)
    report = result.variables.get("ALERTA_REPORT")
    out = {
        "report_number": int(report) if report and report.isdigit() else None,
        "outcome": "hung_up" if result.hung_up else ("error" if result.error else "completed"),
        "steps": result.steps,
        "goto": result.goto,
        "recordings": [str(p) for p in result.recordings],
        "error": result.error,
        "transcript": [f"{direction} {line}" for direction, line in result.transcript],
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 1 if result.error else 0


async def _reports(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services

    async with services(settings, reconcile_clips=False) as svc:
        rows = await svc.reports.listing(args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for r in rows:
            print(
                f"{r['number']:>7} {r['type']:<11} {r['state']:<10} "
                f"{'complete' if r['complete'] else 'INCOMPLETE':<10} {r['caller'] or '-':<15} "
                f"zone {r['zone'] or '-':<4} {r['clip_seconds'] or 0:6.1f}s {r['created_at']}"
            )
    return 0


async def _directory(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.store.directory import DirectoryImportError

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"alerta: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    async with services(settings, reconcile_clips=False) as svc:
        try:
            result = await svc.directory.import_csv(text)
        except DirectoryImportError as exc:
            print(f"alerta: {args.file}: {exc}", file=sys.stderr)
            return 2
    for line in result.rejected:
        print(f"alerta: {args.file}: {line}", file=sys.stderr)
    print(f"imported {result.imported} number(s), rejected {len(result.rejected)}")
    return 0 if not result.rejected else 1


async def _settings(settings: Settings, args: argparse.Namespace) -> int:
    for name, (_kind, _default, doc) in SCALARS.items():
        print(f"{name} = {getattr(settings, name)!s}    # ALERTA_{name.upper()}: {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

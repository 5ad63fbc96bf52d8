"""The ``alerta`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr import (
    __version__,
    line_commands,
    messaging_commands,
    municipality_commands,
    tax_commands,
)
from ivr.analytics import commands as analytics_commands
from ivr.clips import commands as clip_commands
from ivr.config import SCALARS, Settings, load
from ivr.domain.incidents import ConfigError
from ivr.logformat import setup_logging

if TYPE_CHECKING:
    from aiohttp import web

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

    sub.add_parser("serve", help="run the FastAGI controller and the operator console")
    sub.add_parser("console", help="run the operator console alone (same database)")

    users = sub.add_parser("users", help="console accounts")
    usub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add an account (password asked, from stdin, or generated)")
    add.add_argument("name")
    add.add_argument("--role", required=True,
                     choices=("operator", "supervisor", "admin", "analyst", "officer"))
    add.add_argument("--municipality", default="", metavar="CODE",
                     help="where the role holds (default: municipality 1)")
    add.add_argument("--extension", help="the user's own phone, rung first on callbacks")
    add.add_argument("--language", default="es", choices=("es", "en"))
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--generate", action="store_true", help="generate a password, print it once")
    grant = usub.add_parser("grant", help="give an account a role in another municipality")
    grant.add_argument("name")
    grant.add_argument("--municipality", required=True, metavar="CODE")
    grant.add_argument("--role", required=True,
                       choices=("operator", "supervisor", "admin", "analyst", "officer", "none"),
                       help="'none' takes the account's role there away")
    usub.add_parser("list", help="list accounts")
    usub.add_parser("bootstrap", help="on a first run: create 'admin', print its password once")

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
    imp.add_argument("--municipality", default="", metavar="CODE",
                     help="whose directory (default: municipality 1)")

    sub.add_parser("settings", help="print the effective settings and their documentation")

    asterisk = sub.add_parser("asterisk", help="the Asterisk side of this deployment")
    asub = asterisk.add_subparsers(dest="asterisk_command", required=True, metavar="ACTION")
    aconf = asub.add_parser(
        "config", help="write asterisk_conf/ and dialplans/ with this deployment's ports, "
        "paths, numbers and AMI secret (from the settings)")
    aconf.add_argument("--into", type=Path, required=True, help="folder to write, e.g. "
                       "/etc/asterisk (files 0640; the AMI secret in alerta/ami_secret.conf)")
    db = sub.add_parser("db", help="the database itself")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbcopy = dbsub.add_parser("copy", help="copy a SQLite deployment into an empty PostgreSQL"
                              " database, verified by counts and checksums")
    dbcopy.add_argument("--from", dest="source", required=True, metavar="SQLITE",
                        help="sqlite:///abs/path, sqlite:relative/path or a path")
    dbcopy.add_argument("--to", dest="target", required=True, metavar="POSTGRESQL",
                        help="postgresql://user@host:port/database")
    clip_commands.add_parsers(sub)
    analytics_commands.add_parsers(sub)
    line_commands.add_parsers(sub)
    municipality_commands.add_parsers(sub)
    messaging_commands.add_parsers(sub)
    tax_commands.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"alerta: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    handler = {
        "serve": _serve,
        "console": _console,
        "users": _users,
        **municipality_commands.HANDLERS,
        "call": _call,
        "reports": _reports,
        "directory": _directory,
        "settings": _settings,
        "asterisk": _asterisk,
        "db": _db,
        **clip_commands.HANDLERS,
        **analytics_commands.HANDLERS,
        **line_commands.HANDLERS,
        **messaging_commands.HANDLERS,
        **tax_commands.HANDLERS,
    }[args.command]
    try:
        if args.command in LONG_RUNNING:
            factory, loop_name = loop_factory(settings.event_loop)
            logger.info("event loop: %s", loop_name)
            with asyncio.Runner(loop_factory=factory) as runner:
                return runner.run(handler(settings, args))
        return asyncio.run(handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"alerta: configuration error: {exc}", file=sys.stderr)
        return 2


# The commands that serve for hours, and so run on the faster loop when allowed.
LONG_RUNNING = ("serve", "console")


def loop_factory(choice: str) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """The event loop for ``event_loop`` = auto|uvloop|asyncio, and its name.

    uvloop roughly halves the loop's own cost per FastAGI command; the stdlib
    loop stays fully supported (``auto`` falls back to it when uvloop is absent).
    """
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise ConfigError("event_loop = uvloop, but uvloop is not installed") from None
            return None, "asyncio"
        return uvloop.new_event_loop, "uvloop"
    return None, "asyncio"


# Allocations (net of frees) between young-generation collections; CPython's default is
# 700. A call holds its objects for a minute or more, so at thousands of calls in flight
# every young collection promoted them and full collections, which pause every call for
# a pass over all of them, came every few seconds. The calls themselves leave no cycles
# but asyncio's transport (a bound method it keeps on itself), so fewer passes cost
# little memory.
YOUNG_COLLECTION_EVERY = 10_000


def settle_heap() -> None:
    """After start-up: keep what lives as long as the process out of the collector's way.

    Everything loaded so far is frozen, so full collections never walk it again,
    and collections come less often (``YOUNG_COLLECTION_EVERY``).
    """
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, gen1, gen2)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.agi.server import AgiServer
    from ivr.app import services
    from ivr.flows import routes
    from operator_console.run import start_console

    async with services(settings, clip_jobs=True) as svc:
        server = AgiServer(settings.agi, routes(svc.deps))
        await server.start()
        logger.info("FastAGI listening on %s:%d", settings.agi_host, server.port)
        console = await start_console(
            settings, db=svc.db, clip_jobs=svc.clip_jobs,
            journal_pending=svc.book.pending if svc.book else None)
        metrics = await _start_metrics(settings)
        # Everything loaded so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise pause every call for tens of ms.
        settle_heap()
        stop = _stop_event()
        await stop.wait()
        logger.info("shutting down: letting %d call(s) finish", server.active_calls)
        await console.cleanup()
        await server.stop()
        if metrics is not None:
            await metrics.cleanup()
    return 0


async def _start_metrics(settings: Settings) -> web.AppRunner | None:
    """``/metrics`` on 127.0.0.1:``metrics_port`` (0: none), for this process."""
    from ivr.metrics import process_metrics
    from ivr.metrics_server import start_metrics

    return await start_metrics(settings.metrics_port, process_metrics())


async def _console(settings: Settings, args: argparse.Namespace) -> int:
    from operator_console.run import start_console

    runner = await start_console(settings)
    metrics = await _start_metrics(settings)
    await _stop_event().wait()
    await runner.cleanup()
    if metrics is not None:
        await metrics.cleanup()
    return 0


async def _users(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    import secrets

    from ivr.domain.roles import Role
    from ivr.store import engine as store_engine
    from ivr.store.municipalities import Municipalities
    from ivr.store.users import UserError, Users

    async with store_engine.database(settings.database) as db:
        users = Users(db)
        registry = Municipalities(db)
        places = {m.id: m.code for m in await registry.all()}
        if args.users_command == "list":
            for u in await users.all():
                state = "active" if u.active else "disabled"
                roles = ", ".join(f"{r.value}@{places.get(m, m)}"
                                  for m, r in (await users.roles(u.id)).items()) or "-"
                print(f"{u.name:<20} {roles:<30} {u.extension or '-':<8} {state}")
            return 0
        municipality = 1
        if getattr(args, "municipality", ""):
            town = await registry.by_code(args.municipality)
            if town is None:
                print(f"alerta: no municipality {args.municipality!r}", file=sys.stderr)
                return 2
            municipality = town.id
        if args.users_command == "grant":
            user = await users.by_name(args.name)
            if user is None:
                print(f"alerta: no user {args.name!r}", file=sys.stderr)
                return 2
            role = None if args.role == "none" else Role(args.role)
            await users.grant(user.id, municipality, role, actor="cli")
            print(f"{args.name}: {args.role} in {args.municipality}")
            return 0
        if args.users_command == "bootstrap":
            if await users.count():
                return 0
            password = secrets.token_urlsafe(15)
            await users.add("admin", Role.ADMIN, password)
            print(f"alerta: first run: created console user 'admin' with password {password}")
            print("alerta: this password is shown once; change it under Users after logging in.")
            return 0
        generated = False
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif args.generate or not sys.stdin.isatty():
            password, generated = secrets.token_urlsafe(15), True
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("alerta: the passwords differ", file=sys.stderr)
                return 2
        try:
            await users.add(args.name, Role(args.role), password, extension=args.extension,
                            language=args.language, actor="cli", municipality=municipality)
        except UserError as exc:
            print(f"alerta: {exc}", file=sys.stderr)
            return 2
        print(f"added {args.role} {args.name}")
        if generated:
            print(f"password (shown once): {password}")
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
                f"{_numbered(r):>7} {r['type']:<11} {r['state']:<10} "
                f"{'complete' if r['complete'] else 'INCOMPLETE':<10} {r['caller'] or '-':<15} "
                f"zone {r['zone'] or '-':<4} {r['clip_seconds'] or 0:6.1f}s {r['created_at']}"
            )
    return 0


def _numbered(row: dict[str, Any]) -> str:
    """A report as its municipality's people know it (municipality 1's: the number alone)."""
    number = str(row["number"])
    return number if row["municipality"] == 1 else f"m{row['municipality']}:{number}"


async def _directory(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.store.directory import DirectoryImportError
    from ivr.store.municipalities import Municipalities

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"alerta: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    async with services(settings, reconcile_clips=False) as svc:
        town = await Municipalities(svc.db).by_code(args.municipality) if args.municipality \
            else None
        if args.municipality and town is None:
            print(f"alerta: no municipality {args.municipality!r}", file=sys.stderr)
            return 2
        try:
            result = await svc.directory.import_csv(text, town.id if town else 1)
        except DirectoryImportError as exc:
            print(f"alerta: {args.file}: {exc}", file=sys.stderr)
            return 2
    for line in result.rejected:
        print(f"alerta: {args.file}: {line}", file=sys.stderr)
    print(f"imported {result.imported} number(s), rejected {len(result.rejected)}")
    return 0 if not result.rejected else 1


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.store.copy import command

    return await command(args.source, args.target)


async def _settings(settings: Settings, args: argparse.Namespace) -> int:
    for name, (_kind, _default, doc) in SCALARS.items():
        print(f"{name} = {getattr(settings, name)!s}    # ALERTA_{name.upper()}: {doc}")
    return 0


async def _asterisk(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.asterisk_config import AsteriskConfigError, write

    try:
        written = write(settings, args.into)
    except (AsteriskConfigError, OSError) as exc:
        print(f"alerta: asterisk config: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``alerta lines``: lines under version control, and copied between deployments.

    alerta lines list
    alerta lines export report > report-line.json      # the live version, audio included
    alerta lines import report-line.json [--publish]    # into a draft (or a new line)
    alerta lines problems report
    alerta lines publish report --note "new menu"
    alerta lines history report
    alerta lines restore report 3

Every change is audited as ``cli:<login name>``, as the console audits ``user:<name>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from ivr.config import Settings
from ivr.core.lines import LineAdmin, LineNotFound, LineProblems
from ivr.core.records import LineConflict
from ivr.domain.lines import LineError


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lines = sub.add_parser("lines", help="lines, menus and prompts: export, import, publish")
    lsub = lines.add_subparsers(dest="lines_command", required=True)
    lsub.add_parser("list", help="every line, its numbers and live version")
    exp = lsub.add_parser("export", help="a line's whole configuration as JSON, audio included")
    exp.add_argument("line", help="the line's slug")
    exp.add_argument("--version", type=int, help="a published version (default: the live one)")
    exp.add_argument("--draft", action="store_true", help="the draft instead")
    exp.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    imp = lsub.add_parser("import", help="read an export into a draft (a new line if unknown)")
    imp.add_argument("file", type=Path, help="a file `alerta lines export` wrote ('-': stdin)")
    imp.add_argument("--publish", action="store_true", help="publish it at once if complete")
    imp.add_argument("--municipality", default="", metavar="CODE",
                     help="whose line it is (default: municipality 1)")
    for name, text in (("problems", "what stops the draft from being published"),
                       ("history", "the published versions")):
        p = lsub.add_parser(name, help=text)
        p.add_argument("line", help="the line's slug")
    pub = lsub.add_parser("publish", help="make the draft live for the next call")
    pub.add_argument("line", help="the line's slug")
    pub.add_argument("--note", default="", help="why (kept with the version)")
    res = lsub.add_parser("restore", help="publish an earlier version again")
    res.add_argument("line", help="the line's slug")
    res.add_argument("version", type=int)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def _line_id(admin: LineAdmin, slug: str) -> int:
    row = await admin.store.by_slug(slug)
    if row is None:
        raise LineNotFound(f"no line called {slug!r} (see `alerta lines list`)")
    return row.id


async def lines(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.store.municipalities import Municipalities

    async with services(settings, reconcile_clips=False) as svc:
        assert svc.lines is not None
        towns = {m.code: m.id for m in await Municipalities(svc.db).all()}
        try:
            return await _run(svc.lines, args, towns)
        except LineProblems as exc:
            print("alerta: not published; fix these first:", file=sys.stderr)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        except (LineNotFound, LineError, LineConflict, ValueError) as exc:
            print(f"alerta: {exc}", file=sys.stderr)
            return 1


async def _run(admin: LineAdmin, args: argparse.Namespace, towns: dict[str, int]) -> int:
    command, actor = args.lines_command, _actor()
    if command == "list":
        codes = {v: k for k, v in towns.items()}
        for row in await admin.lines():
            config = await admin.draft(row.id)
            print(f"{row.slug:16} {row.flow:7} v{row.live_version or '-':<4} "
                  f"{'draft ' if row.has_draft else '      '}{','.join(config.numbers) or '-':20}"
                  f" {'default ' if row.is_default else ''}{config.name}"
                  f"{'' if row.municipality == 1 else ' @' + codes.get(row.municipality, '?')}")
        return 0
    if command == "import":
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LineError(f"{args.file}: not JSON ({exc})") from None
        if args.municipality and args.municipality not in towns:
            raise LineError(f"no municipality {args.municipality!r}")
        line_id, created = await admin.import_document(
            doc, actor=actor, municipality=towns.get(args.municipality, 1))
        print(f"{'new line' if created else 'draft of line'} {line_id} imported")
        if args.publish:
            version = await admin.publish(line_id, actor=actor, note=f"imported {args.file.name}")
            print(f"published as version {version}")
        return 0
    line_id = await _line_id(admin, args.line)
    if command == "export":
        doc = await admin.export(line_id, version=args.version, draft=args.draft, actor=actor)
        text = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if command == "problems":
        found = await admin.problems(line_id)
        for problem in found:
            print(problem)
        return 1 if found else 0
    if command == "history":
        row = await admin.line(line_id)
        for v in await admin.versions(line_id):
            live = "live" if v.version == row.live_version else "    "
            print(f"v{v.version:<4} {live} {v.published_at} {v.published_by:16} {v.note}")
        return 0
    if command == "publish":
        print(f"published as version {await admin.publish(line_id, actor=actor, note=args.note)}")
        return 0
    if command == "restore":
        version = await admin.restore(line_id, args.version, actor=actor)
        print(f"version {args.version} is live again, as version {version}")
        return 0
    raise AssertionError(command)


HANDLERS = {"lines": lines}

"""``alerta municipalities``: several municipalities on one deployment.

    alerta municipalities list
    alerta municipalities add san-isidro --name "San Isidro" --report-number 5552000 \\
        --status-number 5552001 --neighbour municipalidad
    alerta municipalities edit municipalidad --code miraflores --name Miraflores
    alerta municipalities neighbours miraflores san-isidro

The first start of a database made before municipalities existed makes everything in
it municipality 1 (code ``municipalidad``): rename it with ``edit``.
"""

from __future__ import annotations

import argparse
import sys

from ivr.config import Settings
from ivr.domain.municipalities import MunicipalityError
from ivr.line_commands import _actor


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("municipalities", help="the municipalities sharing this deployment")
    msub = cmd.add_subparsers(dest="municipalities_command", required=True)
    msub.add_parser("list", help="every municipality, its lines and numbers")
    add = msub.add_parser("add", help="a new municipality with its own report and status lines")
    add.add_argument("code", help="short name for URLs: lowercase letters, digits, '-'")
    add.add_argument("--name", required=True, help="as citizens know it, e.g. 'San Isidro'")
    add.add_argument("--timezone", default="America/Lima")
    add.add_argument("--jurisdiction", default="", help="Open311 jurisdiction_id (default: code)")
    add.add_argument("--report-number", action="append", default=[], metavar="NUMBER",
                     help="a number its citizens dial to report (repeatable)")
    add.add_argument("--status-number", action="append", default=[], metavar="NUMBER",
                     help="a number its citizens dial to ask about a report (repeatable)")
    add.add_argument("--neighbour", action="append", default=[], metavar="CODE",
                     help="a municipality it may hand reports to and take them from")
    edit = msub.add_parser("edit", help="change a municipality's code, name, zone or page")
    edit.add_argument("code")
    edit.add_argument("--code", dest="new_code")
    edit.add_argument("--name")
    edit.add_argument("--timezone")
    edit.add_argument("--jurisdiction")
    edit.add_argument("--public-page", choices=("on", "off"))
    edit.add_argument("--keep-clips-days", type=int, metavar="DAYS",
                      help="keep its clips at least this long, whatever the retention rules"
                           " allow (0: no minimum of its own)")
    near = msub.add_parser("neighbours", help="let two municipalities hand reports over")
    near.add_argument("code")
    near.add_argument("other")


async def municipalities(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.core.lines import LineProblems
    from ivr.core.municipalities import MunicipalityDesk
    from ivr.core.prompt_audio import PromptAudio
    from ivr.store.municipalities import Municipalities

    async with services(settings, reconcile_clips=False) as svc:
        registry = Municipalities(svc.db)
        command, actor = args.municipalities_command, _actor()
        try:
            if command == "list":
                assert svc.lines is not None
                rows = await svc.lines.lines()
                for m in await registry.all():
                    near = ", ".join(n.code for n in await registry.neighbours(m.id)) or "-"
                    print(f"{m.id:<4} {m.code:20} {m.name:24} {m.timezone:18}"
                          f" jurisdiction={m.jurisdiction_id} neighbours={near}")
                    for row in (r for r in rows if r.municipality == m.id):
                        dialled = ",".join((await svc.lines.draft(row.id)).numbers) or "-"
                        print(f"       line {row.slug:20} {row.flow:7}"
                              f" v{row.live_version or '-':<4} {dialled}")
                return 0
            if command == "add":
                assert svc.lines is not None
                desk = MunicipalityDesk(registry, svc.lines, PromptAudio(svc.lines))
                numbers = {"report": args.report_number, "status": args.status_number}
                opened = await desk.open(args.code, args.name, args.timezone, actor=actor,
                                         numbers={k: v for k, v in numbers.items() if v},
                                         jurisdiction_id=args.jurisdiction,
                                         neighbours=args.neighbour)
                town = opened.municipality
                print(f"added municipality {town.id} {town.code} ({town.name})")
                for flow, version in opened.published.items():
                    print(f"  {flow} line: version {version} live")
                for warning in opened.warnings:
                    print(f"alerta: {warning}", file=sys.stderr)
                return 0
            found = await registry.by_code(args.code)
            if found is None:
                print(f"alerta: no municipality {args.code!r} (see `alerta municipalities"
                      " list`)", file=sys.stderr)
                return 1
            if command == "edit":
                public = None if args.public_page is None else args.public_page == "on"
                town = await registry.update(
                    found.id, actor=actor, code=args.new_code, name=args.name,
                    timezone=args.timezone, jurisdiction_id=args.jurisdiction,
                    public_page=public)
                print(f"municipality {town.id}: {town.code} ({town.name}), {town.timezone}")
                if args.timezone:
                    print("alerta: run `alerta stats rebuild` to count its reports in the new"
                          " time zone", file=sys.stderr)
                return 0
            other = await registry.by_code(args.other)
            if other is None:
                print(f"alerta: no municipality {args.other!r}", file=sys.stderr)
                return 1
            await registry.make_neighbours(found.id, other.id, actor=actor)
            print(f"{found.code} and {other.code} may hand reports over to each other")
            return 0
        except (MunicipalityError, ValueError, LineProblems) as exc:
            print(f"alerta: {exc}", file=sys.stderr)
            return 1


HANDLERS = {"municipalities": municipalities}

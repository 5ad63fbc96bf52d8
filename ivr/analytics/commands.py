"""``alerta demo``, ``alerta stats`` and ``alerta zones``: the analytics commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.config import Settings
from ivr.domain import zones as geo
from ivr.store import engine as store_engine
from ivr.store import panels, rollup, zonestore
from ivr.store.db import Database
from ivr.store.demo import TABLE1_ROWS, Generator, load
from ivr.store.municipalities import Municipalities

Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def add_parsers(sub: Any) -> None:
    demo = sub.add_parser("demo", help="fill an empty database with demo reports")
    demo.add_argument("--table1", action="store_true", required=True,
                      help="133,081 reports equal to Table 1 of the Alerta Miraflores case study")
    demo.add_argument("--seed", type=int, default=2003, help="random seed (same seed, same data)")

    stats = sub.add_parser("stats", help="the dashboard's numbers, and upkeep of its rollups")
    ssub = stats.add_subparsers(dest="stats_command", required=True, metavar="ACTION")
    type_year = ssub.add_parser("type-year", help="reports by incident type and year (Table 1)")
    type_year.add_argument("--json", action="store_true", help="print JSON")
    type_year.add_argument("--municipality", default="", metavar="CODE",
                           help="whose reports (default: municipality 1)")
    rebuild = ssub.add_parser(
        "rebuild", help="recount every rollup (after a time zone change); it holds the write "
        "lock while it runs (on PostgreSQL: every controller's), some 15 s a million reports "
        "on SQLite, 70 s on PostgreSQL: run it when the line is quiet")
    rebuild.add_argument("--check", action="store_true",
                         help="only compare the rollups with a recount; exit 1 if they differ")

    zones = sub.add_parser("zones", help="the map zones (GeoJSON)")
    zsub = zones.add_subparsers(dest="zones_command", required=True, metavar="ACTION")
    imp = zsub.add_parser("import", help="replace the zones with those of a GeoJSON file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--municipality", default="", metavar="CODE",
                     help="whose zones (default: municipality 1)")
    zlist = zsub.add_parser("list", help="list the zones in use")
    zlist.add_argument("--municipality", default="", metavar="CODE")


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    clock = rollup.clock_for(settings.analytics_timezone)
    async with store_engine.database(settings.database) as db:
        gen = Generator(settings.keypad, await zonestore.load(db), clock,
                        settings.callback_deadlines(), seed=args.seed)
        began = time.perf_counter()

        async def op(conn: aiosqlite.Connection) -> int:
            return await load(conn, gen)

        try:
            count = await db.write(op)
        except ValueError as exc:
            print(f"alerta: {exc}", file=sys.stderr)
            return 2
    print(f"loaded {count:,} demo reports (Table 1, seed {args.seed}) into"
          f" {store_engine.describe(settings.database)} in {time.perf_counter() - began:.1f} s")
    return 0


async def type_year_table(db: Database, municipality: int = 1) -> dict[str, Any]:
    span = await panels.data_span(db, (municipality,))
    if span is None:
        return {"years": [], "types": {}, "totals": {}, "total": 0}
    f = panels.Filters(span[0], span[1] + timedelta(days=1), municipalities=(municipality,))
    table = await panels.type_year(db, f)
    years = sorted({y for row in table.values() for y in row})
    totals = {y: sum(row.get(y, 0) for row in table.values()) for y in years}
    return {"years": years, "types": table, "totals": totals, "total": sum(totals.values())}


async def _stats(settings: Settings, args: argparse.Namespace) -> int:
    async with store_engine.database(settings.database) as db:
        if args.stats_command == "type-year":
            town = await _municipality(db, args.municipality)
            if town is None:
                return 2
            data = await type_year_table(db, town)
            if args.json:
                print(json.dumps(data, indent=2))
                return 0
            years = data["years"]
            print(f"{'type':<30}" + "".join(f"{y:>9}" for y in years) + f"{'total':>10}")
            order = [t for t in TABLE1_ROWS if t in data["types"]]
            for type_id in order + sorted(set(data["types"]) - set(order)):
                row = data["types"][type_id]
                label = TABLE1_ROWS.get(type_id, type_id)
                cells = "".join(f"{row.get(y, 0):>9,}" for y in years)
                print(f"{label:<30}{cells}{sum(row.values()):>10,}")
            cells = "".join(f"{data['totals'][y]:>9,}" for y in years)
            print(f"{'total':<30}{cells}{data['total']:>10,}")
            return 0

        async def check(conn: aiosqlite.Connection) -> dict[str, list[tuple[object, ...]]]:
            return await rollup.differences(conn)

        if args.check:
            found = await db.write(check)
            for table, rows in found.items():
                print(f"alerta: {table} differs from a recount, e.g. {rows[:3]}", file=sys.stderr)
            print("rollups differ from a recount" if found else "rollups equal a full recount")
            return 1 if found else 0
        clock = rollup.clock_for(settings.analytics_timezone)
        began = time.perf_counter()

        async def rebuild(conn: aiosqlite.Connection) -> None:
            await rollup.rebuild(conn, clock)

        await db.write(rebuild)
        print(f"rollups recounted in {time.perf_counter() - began:.1f} s"
              f" (each municipality on its clock; municipality 1: {clock.timezone},"
              f" UTC{clock.utc_offset_minutes / 60:+g} h)")
    return 0


async def _municipality(db: Database, code: str) -> int | None:
    """The id of the municipality ``code`` (1 when none is given); None, said, if unknown."""
    if not code:
        return 1
    found = await Municipalities(db).by_code(code)
    if found is None:
        print(f"alerta: no municipality {code!r}", file=sys.stderr)
        return None
    return found.id


async def _zones(settings: Settings, args: argparse.Namespace) -> int:
    async with store_engine.database(settings.database) as db:
        town = await _municipality(db, args.municipality)
        if town is None:
            return 2
        if args.zones_command == "list":
            shapes = await zonestore.load(db, town)
            source = ("imported" if await zonestore.imported(db, town)
                      else "sample (not official)")
            for z in shapes:
                lon, lat = z.centroid
                print(f"{z.code:>4} {z.name:<30} centre {lat:.5f}, {lon:.5f}")
            print(f"{len(shapes)} zones, {source}")
            return 0
        try:
            data = args.file.read_bytes()
            shapes = geo.parse(data)
        except OSError as exc:
            print(f"alerta: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
        except geo.ZoneImportError as exc:
            print(f"alerta: {args.file}: {exc}", file=sys.stderr)
            return 2
        await zonestore.replace_all(db, shapes, actor="cli", municipality=town)
    codes = {z.code for z in shapes}
    configured = {z.code for z in settings.zones}
    if codes - configured:
        print(f"alerta: note: zones {_codes(codes - configured)} are not in the "
              "settings' zones, so callers cannot pick them on the keypad", file=sys.stderr)
    if configured - codes:
        print(f"alerta: note: settings' zones {_codes(configured - codes)} have no "
              "shape in the file; their reports are counted but not drawn", file=sys.stderr)
    print(f"imported {len(shapes)} zones from {args.file}")
    return 0


def _codes(codes: set[str]) -> str:
    return ", ".join(sorted(codes, key=lambda c: (len(c), c)))


HANDLERS: dict[str, Handler] = {"demo": _demo, "stats": _stats, "zones": _zones}

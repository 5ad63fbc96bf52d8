"""The command center's analytics: dashboard, hot-spot map, exports, weekly committee report."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.analytics import charts, committee, dashboard, exports
from ivr.domain.roles import Intake, Role
from ivr.store import export_rows, panels, rollup, zonestore
from ivr.store.panels import Filters
from operator_console.render import language_of, page
from operator_console.security import municipality_id, person_of, requires
from operator_console.state import Console, console_of, desk_of, municipalities_of
from operator_console.views import analytics_text
from operator_console.views.queue import incident_types

MAX_DAYS = 366 * 50
PRESETS = {"7d": 7, "30d": 30, "90d": 90, "12m": 365}


def _day(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise ValueError(f"{name}: {raw[:20]!r} is not a date (YYYY-MM-DD)") from exc


def _many(request: web.Request, name: str, allowed: set[str]) -> tuple[str, ...]:
    values = []
    for raw in request.query.getall(name, []):
        for value in raw.split(","):
            value = value.strip()
            if not value:
                continue
            if value not in allowed:
                raise ValueError(f"{name}: unknown value {value[:30]!r}")
            values.append(value)
    return tuple(dict.fromkeys(values))


async def filters_of(request: web.Request, console: Console) -> Filters:
    """The dashboard's filters from the query string; a bad value is a 400 with a reason."""
    q = request.query
    here = municipality_id(request)
    clock = await dashboard.stored_clock(console.db, here)
    since, until = await dashboard.default_range(console.db, clock, (here,))
    preset = q.get("range", "")
    if preset in PRESETS:
        until = dashboard.local_today(clock) + timedelta(days=1)
        since = until - timedelta(days=PRESETS[preset])
    elif preset not in ("", "all"):
        raise ValueError(f"range: unknown value {preset[:10]!r}")
    if q.get("since"):
        since = _day(q["since"], "since")
    if q.get("until"):
        until = _day(q["until"], "until") + timedelta(days=1)  # the form's "to" day is included
    if (until - since).days > MAX_DAYS:
        raise ValueError("the range is too long")
    settings = console.settings
    types = {t.id for t in await incident_types(console, here)} | {"operator"}
    zones = {z.code for z in settings.zones} | {
        z.code for z in await zonestore.load(console.db, here)}
    zone_values = _many(request, "zone", zones | {"none"})
    return Filters(
        since=since, until=until,
        types=_many(request, "type", types),
        zones=tuple("" if z == "none" else z for z in zone_values),
        channels=_many(request, "channel", {c.value for c in Intake}),
        municipalities=(here,),
    )


def query_of(f: Filters) -> str:
    pairs: list[tuple[str, str]] = [("since", f.since.isoformat()),
                                    ("until", (f.until - timedelta(days=1)).isoformat())]
    pairs += [("type", t) for t in f.types]
    pairs += [("zone", z or "none") for z in f.zones]
    pairs += [("channel", c) for c in f.channels]
    return urlencode(pairs)


async def _context(request: web.Request, console: Console, f: Filters) -> dict[str, Any]:
    language = language_of(request)
    here = municipality_id(request)
    shapes = await zonestore.load(console.db, here)
    names = {z.code: z.name for z in console.settings.zones}
    names.update({z.code: z.name for z in shapes})
    clock = await dashboard.stored_clock(console.db, here)
    stale = False  # the settings' time zone is municipality 1's; others set their own
    try:
        wanted = rollup.clock_for(console.settings.analytics_timezone)
        stale = here == 1 and wanted.utc_offset_minutes != clock.utc_offset_minutes
    except rollup.ClockError:
        stale = True  # a time zone the system does not know: say so, count as stored
    return {
        "f": f, "qs": query_of(f), "tx": analytics_text.translator(language),
        "one_day": timedelta(days=1),
        "labels": dashboard.type_labels(await incident_types(console, here), language),
        "zone_names": names, "shapes": shapes, "clock": clock,
        "clock_stale": stale,
        "channels": [c.value for c in Intake],
        "channel_label": lambda c: dashboard.channel_label(c, language),
        "zone_codes": sorted(names, key=lambda c: (len(c), c)),
        "percent": dashboard.percent, "signed_percent": dashboard.signed_percent,
        "duration": dashboard.duration, "number": charts.number, "change": panels.change,
        "weekdays": dashboard.WEEKDAYS["en" if language == "en" else "es"],
    }


@requires(Role.ANALYST)
async def dashboard_page(request: web.Request) -> web.Response:
    console = console_of(request)
    f = await filters_of(request, console)
    ctx = await _context(request, console, f)
    board = await dashboard.build(console.db, f, ctx["clock"])
    ctx["charts"] = analytics_text.dashboard_charts(board, ctx)
    ctx["types"] = dashboard.ordered_types(
        await incident_types(console, f.municipalities[0]),
        list(set(board.type_year) | set(board.year_on_year)))
    year_totals = {y: sum(row.get(y, 0) for row in board.type_year.values())
                   for y in board.years}
    return page(request, "dashboard.html", board=board, year_totals=year_totals,
                channel_shares=dashboard.shares(board.by_channel), **ctx)


@requires(Role.ANALYST)
async def hotspots_page(request: web.Request) -> web.Response:
    console = console_of(request)
    f = await filters_of(request, console)
    ctx = await _context(request, console, f)
    values, timings = await dashboard.timed(dashboard.hotspot_panels(console.db, f, ctx["clock"]))
    grid: dict[str, list[int]] = values["zone_hour"]
    top = panels.top_hotspots(grid, 10)
    tx = ctx["tx"]
    zones_in_grid = [z for z in ctx["zone_codes"] if z in grid]
    ctx["charts"] = {
        "choropleth": charts.choropleth("choropleth", tx("chart_choropleth"), ctx["shapes"],
                                        values["by_zone"]),
        "density": charts.density("density", tx("chart_density"), ctx["shapes"],
                                  values["density"]),
        "zone_hour": charts.heatmap("zone-hour", tx("chart_zone_hour"),
                                    [f"{tx('zone')} {z}" for z in zones_in_grid],
                                    [f"{h:02d}" for h in range(24)],
                                    [grid[z] for z in zones_in_grid], width=900),
    }
    return page(request, "hotspots.html", by_zone=values["by_zone"], top=top, grid=grid,
                cells=len(values["density"]), located=sum(values["density"].values()),
                timings=timings, **ctx)


async def _audit_export(console: Console, request: web.Request, kind: str, f: Filters) -> None:
    await desk_of(request).exported(kind, query_of(f), person_of(request),
                                    municipality=f.municipalities[0])


async def _filename(request: web.Request, f: Filters, ext: str) -> str:
    """Named after the municipality whose reports it holds (codes are URL-safe)."""
    last = f.until - timedelta(days=1)
    town = await municipalities_of(request).get(f.municipalities[0])
    code = town.code if town else str(f.municipalities[0])
    return f"alerta-{code}-reports-{f.since:%Y%m%d}-{last:%Y%m%d}.{ext}"


async def _stream(request: web.Request, chunks: Any, content_type: str,
                  name: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store",
    })
    await response.prepare(request)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    except Exception:
        # The status line has gone out: cut the connection, so the client sees a broken
        # download instead of waiting for the rest of it.
        if request.transport is not None:
            request.transport.close()
        raise
    await response.write_eof()
    return response


@requires(Role.ANALYST)
async def export_csv(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    f = await filters_of(request, console)
    clock = await dashboard.stored_clock(console.db, f.municipalities[0])
    await _audit_export(console, request, "csv", f)
    chunks = exports.csv_chunks(export_rows.location_of(console.db), f, clock)
    return await _stream(request, chunks,
                         "text/csv; charset=utf-8", await _filename(request, f, "csv"))


@requires(Role.ANALYST)
async def export_geojson(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    f = await filters_of(request, console)
    clock = await dashboard.stored_clock(console.db, f.municipalities[0])
    centroids = {z.code: z.centroid for z in await zonestore.load(console.db,
                                                                   f.municipalities[0])}
    await _audit_export(console, request, "geojson", f)
    chunks = exports.geojson_chunks(export_rows.location_of(console.db), f, clock, centroids)
    return await _stream(request, chunks,
                         "application/geo+json", await _filename(request, f, "geojson"))


@requires(Role.ANALYST)
async def export_xlsx(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    f = await filters_of(request, console)
    clock = await dashboard.stored_clock(console.db, f.municipalities[0])
    await _audit_export(console, request, "xlsx", f)
    name = await _filename(request, f, "xlsx")
    with tempfile.TemporaryDirectory(prefix="alerta-xlsx-") as folder:
        target = Path(folder) / "export.xlsx"
        source = export_rows.location_of(console.db)
        await asyncio.to_thread(exports.write_xlsx, source, f, clock, target)
        data = target.read_bytes()
    return web.Response(body=data, headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store",
    })


async def _week(request: web.Request, console: Console) -> committee.Week:
    here = municipality_id(request)
    clock = await dashboard.stored_clock(console.db, here)
    raw = request.query.get("week", "")
    if raw:
        monday = committee.parse_week(raw)
    else:
        monday = await committee.default_week(console.db, clock, here)
    return await committee.build(console.db, clock, monday, municipality=here)


@requires(Role.ANALYST)
async def committee_page(request: web.Request) -> web.Response:
    console = console_of(request)
    week = await _week(request, console)
    language = language_of(request)
    types = await incident_types(console, municipality_id(request))
    labels = dashboard.type_labels(types, language)
    tx = analytics_text.translator(language)
    shapes = await zonestore.load(console.db, municipality_id(request))
    return page(request, "committee.html", week=week, labels=labels, tx=tx,
                one_day=timedelta(days=1), one_week=timedelta(weeks=1),
                charts=committee.charts_for(week, labels, shapes, tx, charts.LIGHT),
                types=dashboard.ordered_types(types, week.types),
                percent=dashboard.percent, signed_percent=dashboard.signed_percent,
                duration=dashboard.duration, number=charts.number, change=panels.change)


@requires(Role.ANALYST)
async def committee_pdf(request: web.Request) -> web.Response:
    console = console_of(request)
    week = await _week(request, console)
    language = language_of(request)
    known = await incident_types(console, municipality_id(request))
    labels = dashboard.type_labels(known, language)
    tx = analytics_text.translator(language)
    shapes = await zonestore.load(console.db, municipality_id(request))
    types = dashboard.ordered_types(known, week.types)
    town = await municipalities_of(request).get(municipality_id(request))
    data = await asyncio.to_thread(committee.pdf, week, labels, types, shapes, tx,
                                   town.name if town else "")
    return web.Response(body=data, headers={
        "Content-Type": "application/pdf",
        "Content-Disposition": f'inline; filename="committee-{week.monday:%G-W%V}.pdf"',
        "Cache-Control": "private, no-store",
    })


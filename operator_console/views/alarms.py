"""The silent-alarm board (operators), the banner's feed of untaken alarms, taking an
alarm, and the responsible-use report (supervisors).

An alarm is a report of channel ``pos``; it is dispatched and closed on its report page
like any other. "Taking" it is acknowledging it through the case use case
(``ivr.core.cases``): the banner every console page shows (``static/alarms.js``) lasts
until someone has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.analytics import charts
from ivr.analytics.dashboard import state_label
from ivr.core.cases import CaseError
from ivr.domain.alarms import ALARM_TYPES, KINDS
from ivr.domain.municipalities import number_of
from ivr.domain.roles import Role
from ivr.domain.zones import ZoneShape, bounds
from ivr.store import zonestore
from ivr.store.alarm_views import (
    AlarmViews,
    by_business,
    link_losses,
    month_start,
    months_back,
    tally,
)
from operator_console.render import language_of, page
from operator_console.security import municipality_id, person_of, report_in_scope, requires
from operator_console.state import Console, console_of, desk_of, municipalities_of
from operator_console.views.alarm_text import duration, kind_words, translator

MONTHS = 12
TOP = 10


def views_of(console: Console) -> AlarmViews:
    if console.alarms is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return console.alarms


def type_words(type_id: str, language: str) -> str:
    """An alarm report's type in words (the kind that opened it)."""
    kind = next((k for k, (t, _, _) in KINDS.items() if t == type_id), None)
    return kind_words(kind, language) if kind else ALARM_TYPES.get(type_id, type_id)


def _shown(alarm: dict[str, Any], language: str) -> dict[str, Any]:
    """An alarm as the board and the banner show it: its signals in plain words."""
    signals = [{**s, "words": kind_words(s["kind"], language)} for s in alarm["signals"]]
    first = next((s for s in signals if s["report_id"] == alarm["id"]), None)
    contact = next((c for c in alarm["contacts"] if c.get("name") or c.get("phone")), None)
    return {**alarm, "signals": signals, "number": number_of(alarm["id"]),
            "words": first["words"] if first else type_words(alarm["type"], language),
            "code": first["code"] if first else "",
            "panel_zone": first["zone"] if first else None,
            "contact": contact, "state_words": state_label(alarm["state"], language)}


def alarm_map(shapes: list[ZoneShape], alarms: list[dict[str, Any]],
              language: str) -> tuple[str, set[int]]:
    """The zones with a pin on each open alarm's business (drawn here, as the hot-spot
    map is: no tile or script from anywhere); and the alarms no pin could show."""
    ax = translator(language)
    placed = [a for a in alarms if a["lat"] is not None and a["lon"] is not None]
    if not shapes:
        return "", {a["id"] for a in alarms}
    x0, y0, x1, y1 = bounds(shapes)
    margin = 0.2 * max(x1 - x0, y1 - y0)
    inside = [a for a in placed if x0 - margin <= a["lon"] <= x1 + margin
              and y0 - margin <= a["lat"] <= y1 + margin]
    width, height = 520, 420
    desc = "; ".join(f"{a['site']}: {a['lat']:.5f}, {a['lon']:.5f}" for a in inside)
    svg = charts.Svg("alarm-map", width, height, ax("map"), desc or ax("map_desc"), charts.DARK)
    projection = charts.Projection(shapes, width, height, 18)
    for zone in shapes:
        svg.parts.append(f'<path d="{projection.path(zone)}" fill="#1d2733"'
                         f' stroke="{charts.DARK.outline}" stroke-width="1"/>')
        x, y = projection(*zone.centroid)
        svg.text(x, y + 4, zone.code, size=11, anchor="middle", fill=charts.DARK.muted)
    for alarm in inside:
        x, y = projection(alarm["lon"], alarm["lat"])
        tip = f"#{number_of(alarm['id'])} · {alarm['site']} · {alarm['address']}"
        svg.parts.append(
            f'<a href={quoteattr("/reports/" + str(alarm["id"]))} class="pin"'
            f' data-alarm="{alarm["id"]}"><circle cx="{x:.1f}" cy="{y:.1f}" r="8"'
            f' fill="#ff5d5d" stroke="#ffffff" stroke-width="2"><title>{escape(tip)}</title>'
            f'</circle></a>')
        svg.text(x + 11, y + 4, f"#{number_of(alarm['id'])}", size=11, weight="bold")
    shown = {a["id"] for a in inside}
    return svg.done(), {a["id"] for a in alarms if a["id"] not in shown}


async def _board(request: web.Request) -> dict[str, Any]:
    console = console_of(request)
    here = municipality_id(request)
    language = language_of(request)
    alarms = [_shown(a, language) for a in await views_of(console).open_alarms(here)]
    drawn, off_map = alarm_map(await zonestore.load(console.db, here), alarms, language)
    return {"alarms": alarms, "map_svg": drawn, "off_map": off_map,
            "ax": translator(language)}


@requires(Role.OPERATOR)
async def board_page(request: web.Request) -> web.Response:
    return page(request, "alarms.html", **await _board(request))


@requires(Role.OPERATOR)
async def board_rows(request: web.Request) -> web.Response:
    """The board's live part, fetched again by the page when an alarm changes."""
    return page(request, "_alarm_rows.html", **await _board(request))


@requires(Role.OPERATOR)
async def pending_api(request: web.Request) -> web.Response:
    """The alarms nobody has taken, for the banner, and the event id to listen after."""
    console = console_of(request)
    last = await console.queries.last_event_id()  # before the read: nothing falls between
    language = language_of(request)
    alarms = [_shown(a, language) for a in
              await views_of(console).pending(municipality_id(request))]
    return web.json_response({"last_event": last, "alarms": [
        {"id": a["id"], "number": a["number"], "site": a["site"], "address": a["address"],
         "zone": a["zone"] or "", "panel_zone": a["panel_zone"] or "", "words": a["words"],
         "code": a["code"], "at": a["created_at"]} for a in alarms]})


@requires(Role.OPERATOR)
async def take(request: web.Request) -> web.StreamResponse:
    """Take an alarm: acknowledge its report (the use case records who and when). One
    taken already, by whoever, is answered as taken."""
    console = console_of(request)
    number = report_in_scope(request)
    here = municipality_id(request)
    alarm = await views_of(console).alarm(number, here)
    if alarm is None:
        raise web.HTTPNotFound(text="not an alarm report here")
    already = alarm["state"] != "received"
    if not already:
        try:
            await desk_of(request).change_state(number, "acknowledged", person_of(request))
        except CaseError:
            now = await views_of(console).alarm(number, here)
            if now is None or now["state"] == "received":
                raise
            already = True  # someone else took it in between
    if request.headers.get("X-Requested-With") == "fetch":
        return web.json_response({"ok": True, "report": number, "already": already})
    raise web.HTTPSeeOther(f"/reports/{number}")


async def _zone(request: web.Request) -> ZoneInfo:
    place = await municipalities_of(request).get(municipality_id(request))
    return ZoneInfo(place.timezone if place is not None else "UTC")


@requires(Role.SUPERVISOR)
async def responsible_page(request: web.Request) -> web.Response:
    """False alarms by device and business, month by month, and the longest link losses."""
    console = console_of(request)
    views = views_of(console)
    here = municipality_id(request)
    zone = await _zone(request)
    now = datetime.now(UTC)
    since = month_start(now, zone, MONTHS - 1)
    devices = await views.devices(here)
    uses = tally(devices, await views.alarm_reports_since(here, since), zone)
    months = months_back(now, zone, MONTHS)
    this, last = months[-1], months[-2]
    rows = sorted(uses.values(), key=lambda u: (-u.false[this], -u.false[last],
                                                u.device["site"], u.device["id"]))
    most = sorted((u for u in uses.values() if sum(u.false.values())),
                  key=lambda u: (-sum(u.false.values()), u.device["id"]))[:TOP]
    losses = link_losses(devices, await views.link_events(here, since), now)[:TOP]
    language = language_of(request)
    return page(request, "alarm_report.html", ax=translator(language), this=this, last=last,
                months=months, by_device=rows, most=most, losses=losses,
                businesses=by_business(uses, months), zone=zone.key,
                duration=duration)

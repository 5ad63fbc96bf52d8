"""The public transparency pages and API, and the read side of Open311 GeoReport v2.

One page per municipality (``/public/<code>``); the API and Open311 name theirs with
``municipality`` and ``jurisdiction_id`` (required once there are several, as the
GeoReport v2 spec asks of an endpoint serving several jurisdictions). No login, no
personal data (see ivr.analytics.public). Answers are cached for a minute, so a crowd
on the public page costs the database one query a minute.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiohttp import web

from ivr.analytics import charts, dashboard, public
from ivr.analytics.cases import figures
from ivr.domain.municipalities import RANGE, Municipality
from ivr.store import zonestore
from operator_console.render import language_of, page
from operator_console.security import parse_id
from operator_console.security import public as public_route
from operator_console.state import Console, console_of, municipalities_of
from operator_console.views import analytics_text
from operator_console.views.queue import incident_types

CACHE_S = 60.0
CACHE_MAX = 256
Cache = dict[tuple[str, str, str], tuple[float, int, bytes, str]]
_caches: weakref.WeakKeyDictionary[web.Application, Cache] = weakref.WeakKeyDictionary()


async def _cached(request: web.Request, content_type: str,
                  make: Callable[[], Awaitable[tuple[int, bytes]]]) -> web.Response:
    _cache = _caches.setdefault(request.app, {})  # one per application
    key = (request.path, request.query_string, language_of(request))
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is None or hit[0] < now:
        status, body = await make()
        if len(_cache) >= CACHE_MAX:
            for old in sorted(_cache, key=lambda k: _cache[k][0])[: CACHE_MAX // 4]:
                _cache.pop(old, None)
        hit = (now + CACHE_S, status, body, content_type)
        _cache[key] = hit
    _, status, body, content_type = hit
    return web.Response(body=body, status=status, content_type=content_type, charset="utf-8",
                        headers={"Cache-Control": f"public, max-age={int(CACHE_S)}",
                                 "Access-Control-Allow-Origin": "*"})


def _enabled(console: Console) -> None:
    if not console.settings.public_pages:
        raise web.HTTPNotFound(text="the public pages are turned off")


class _Unknown(Exception):
    """No such (public) municipality, or none named where several share the deployment."""


async def _town(request: web.Request, named: str | None,
                asked: str = "municipality") -> Municipality:
    """The municipality named (by code or jurisdiction), or the only one there is;
    ``asked``: the parameter that names it (the error says which to give)."""
    every = await municipalities_of(request).all()
    towns = [m for m in every if m.public_page]
    if named is None or named == "":
        if len(towns) == 1 and len(every) == 1:
            return towns[0]
        if not towns:
            raise _Unknown("no municipality publishes its data here")
        known = [m.jurisdiction_id if asked == "jurisdiction_id" else m.code for m in towns]
        raise _Unknown(f"{asked} is required: several municipalities share this service"
                       f" ({', '.join(known)})")
    # The name the parameter stands for first, then the other (a code and another
    # municipality's jurisdiction id may be spelt alike).
    first = "jurisdiction_id" if asked == "jurisdiction_id" else "code"
    found = next((m for m in towns if getattr(m, first) == named), None) or next(
        (m for m in towns if named in (m.code, m.jurisdiction_id)), None)
    if found is None:
        raise _Unknown(f"no municipality {named[:40]!r} here")
    return found


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")


def _error(status: int, text: str) -> tuple[int, bytes]:
    return status, _json([{"code": status, "description": text}])


async def _summary(console: Console, language: str, town: Municipality) -> dict[str, Any]:
    clock = await dashboard.stored_clock(console.db, town.id)
    zones = await zonestore.load(console.db, town.id)
    data = await public.summary(console.db, console.settings,
                                await incident_types(console, town.id), clock, zones,
                                language=language, town=town)
    data["cases"] = await _cases(console, language, town, dashboard.local_today(clock))
    return data


async def _cases(console: Console, language: str, town: Municipality,
                 today: date) -> list[dict[str, Any]]:
    """The last months of citizens' cases per area (received, on time, overdue)."""
    if console.participation is None or console.catalogue is None:
        return []
    lines = await console.catalogue.live_configs(town.id, "participation")
    areas = {a.id: a.label(language, line.languages[0]) for line in lines for a in line.areas}
    if not areas:
        return []
    at = today.year * 12 + today.month - 1
    months = [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(at - public.CASE_MONTHS + 1,
                                                               at + 1)]
    by_month = {}
    for month in months:
        rows = figures(await console.participation.monthly(town.id, month))
        by_month[month] = {r.area: (r.received, r.on_time, r.overdue) for r in rows
                           if not r.kind}
    return public.case_months(months, by_month, areas)


@public_route
async def index_html(request: web.Request) -> web.Response:
    """``/public``: the only municipality's page, or the list of them."""
    console = console_of(request)
    _enabled(console)
    towns = await municipalities_of(request).all()
    shown = [m for m in towns if m.public_page]
    if len(towns) == 1 and shown:
        raise web.HTTPFound(f"/public/{shown[0].code}")
    return page(request, "public_index.html", towns=shown)


@public_route
async def page_html(request: web.Request) -> web.Response:
    console = console_of(request)
    _enabled(console)
    language = language_of(request)
    try:
        town = await _town(request, request.match_info["code"])
    except _Unknown:
        raise web.HTTPNotFound(text="no such municipality") from None

    async def make() -> tuple[int, bytes]:
        data = await _summary(console, language, town)
        tx = analytics_text.translator(language)
        zones = await zonestore.load(console.db, town.id)
        months = [m["month"] for m in data["by_month"]]
        types = [t["service_code"] for t in data["by_type"]]
        names = {t["service_code"]: t["service_name"] for t in data["by_type"]}
        drawn = {
            "months": charts.lines(
                "public-months", tx("chart_month"), months,
                [(names[t], [m["by_type"].get(t, 0) for m in data["by_month"]]) for t in types],
                theme=charts.LIGHT, width=760),
            "zones": charts.choropleth(
                "public-zones", tx("chart_choropleth"), zones,
                {z["zone"]: z["reports"] for z in data["by_zone"]}, theme=charts.LIGHT,
                width=460, height=400),
        }
        response = page(request, "public.html", data=data, charts=drawn, tx=tx,
                        percent=dashboard.percent, signed_percent=dashboard.signed_percent,
                        number=charts.number)
        assert isinstance(response.body, bytes)
        return 200, response.body

    return await _cached(request, "text/html", make)


@public_route
async def summary_json(request: web.Request) -> web.Response:
    console = console_of(request)
    _enabled(console)

    async def make() -> tuple[int, bytes]:
        try:
            town = await _town(request, request.query.get("municipality"))
        except _Unknown as exc:
            return _error(400, str(exc))
        return 200, _json(await _summary(console, language_of(request), town))

    return await _cached(request, "application/json", make)


@public_route
async def services_json(request: web.Request) -> web.Response:
    console = console_of(request)
    _enabled(console)

    async def make() -> tuple[int, bytes]:
        try:
            town = await _town(request, request.query.get("jurisdiction_id"),
                              "jurisdiction_id")
        except _Unknown as exc:
            return _error(400, str(exc))
        language = language_of(request)
        cases = await console.open311.service_list(town.id, language) if console.open311 else []
        return 200, _json(public.services(await incident_types(console, town.id), language)
                          + cases)

    return await _cached(request, "application/json", make)


async def _requests(request: web.Request, console: Console,
                    query: dict[str, str]) -> tuple[int, bytes]:
    try:
        town = await _town(request, request.query.get("jurisdiction_id"),
                              "jurisdiction_id")
    except _Unknown as exc:
        return _error(400, str(exc))
    clock = await dashboard.stored_clock(console.db, town.id)
    types = await incident_types(console, town.id)
    try:
        q = public.parse_query(query, types, clock)
    except public.PublicQueryError as exc:
        return _error(400, str(exc))
    zones = await zonestore.load(console.db, town.id)
    found = await public.requests(console.db, console.settings, types, clock, zones, q,
                                  language=language_of(request), municipality=town.id)
    if "service_request_id" in query and not found and request.match_info.get("report"):
        return _error(404, "no such public service request")
    return 200, _json(found)


@public_route
async def requests_json(request: web.Request) -> web.Response:
    console = console_of(request)
    _enabled(console)
    query = {k: request.query[k] for k in request.query}

    async def make() -> tuple[int, bytes]:
        return await _requests(request, console, query)

    return await _cached(request, "application/json", make)


@public_route
async def request_json(request: web.Request) -> web.Response:
    console = console_of(request)
    _enabled(console)
    number = parse_id(request.match_info["report"])

    async def make() -> tuple[int, bytes]:
        if number is None or not 1 <= number < RANGE:  # no number of any municipality
            return _error(404, "no such public service request")
        return await _requests(request, console, {"service_request_id": str(number)})

    return await _cached(request, "application/json", make)

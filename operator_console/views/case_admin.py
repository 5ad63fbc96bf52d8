"""Admins' side of the citizen services: the municipality's non-working days (beside the
country's holidays, read only), the areas each officer answers for (ticked on the users
page), and the Open311 keys of its website and apps (made and shown once, revoked).

Every change goes through a use case (``ivr.core.participation``, ``ivr.core.open311``)
and is an event of the municipality.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ivr.analytics import dashboard
from ivr.domain.business_days import Calendar
from ivr.domain.roles import Role
from ivr.store.users import User
from operator_console.render import language_of, page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import console_of
from operator_console.views.case_admin_text import refusal, translator
from operator_console.views.open311 import desk_of

Form = MultiDictProxy[Any]
COUNTRY = "PE"


def participation_of(request: web.Request) -> Any:
    found = console_of(request).participation
    if found is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return found


def _field(form: Form, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _refused(request: web.Request, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=refusal(message, language_of(request)))


async def _today(request: web.Request) -> date:
    clock = await dashboard.stored_clock(console_of(request).db, municipality_id(request))
    return dashboard.local_today(clock)


# --- the calendar --------------------------------------------------------------------


def national_holidays(years: range, country: str = COUNTRY) -> list[tuple[date, str]]:
    """The country's public holidays in ``years``, in date order."""
    calendar = Calendar(country)
    day, end = date(years.start, 1, 1), date(years.stop, 1, 1)
    found = []
    while day < end:
        name = calendar.holiday_name(day)
        if name is not None:
            found.append((day, name))
        day += timedelta(days=1)
    return found


@requires(Role.ADMIN)
async def calendar_page(request: web.Request) -> web.Response:
    today = await _today(request)
    days = await participation_of(request).non_working_days(municipality_id(request))
    return page(request, "calendar.html", days=days, today=today,
                holidays=national_holidays(range(today.year, today.year + 2)),
                cx=translator(language_of(request)))


@requires(Role.ADMIN)
async def calendar_change(request: web.Request) -> web.StreamResponse:
    """``action=add`` (day, name) or ``action=remove`` (day)."""
    form = await request.post()
    try:
        day = date.fromisoformat(_field(form, "day", 10))
    except ValueError:
        raise _refused(request, "give the day as YYYY-MM-DD") from None
    participation, here = participation_of(request), municipality_id(request)
    actor = session_of(request).user.actor
    if _field(form, "action", 10) == "remove":
        if not await participation.remove_non_working_day(here, day, actor=actor):
            raise web.HTTPNotFound(text=refusal("no such day here", language_of(request)))
    else:
        name = " ".join(_field(form, "name", 120).split())
        if not name:
            raise _refused(request, "give the day a name")
        await participation.add_non_working_day(here, day, name, actor=actor)
    raise web.HTTPSeeOther("/admin/calendar")


# --- officers' areas -----------------------------------------------------------------


async def areas_here(request: web.Request) -> dict[str, str]:
    """The areas of the municipality's live participation lines: id → label."""
    catalogue = console_of(request).catalogue
    if catalogue is None:
        return {}
    language = language_of(request)
    found: dict[str, str] = {}
    for line in await catalogue.live_configs(municipality_id(request), "participation"):
        for area in line.areas:
            found.setdefault(area.id, area.label(language, line.languages[0]))
    return found


async def officers_context(request: web.Request, users: list[User]) -> dict[str, Any]:
    """For the users page: the areas to tick, and each officer's."""
    officers = [u for u in users if u.role == Role.OFFICER]
    if not officers:
        return {"areas": {}, "officer_areas": {}, "cx": translator(language_of(request))}
    participation, here = participation_of(request), municipality_id(request)
    return {"areas": await areas_here(request),
            "officer_areas": {u.id: set(await participation.officer_areas(here, u.id))
                              for u in officers},
            "cx": translator(language_of(request))}


async def save_areas(request: web.Request, user_id: int, role: Role | None,
                     ticked: list[str]) -> None:
    """Grant the ticked areas and revoke the others (all of them for a non-officer)."""
    participation, here = participation_of(request), municipality_id(request)
    actor = session_of(request).user.actor
    known = await areas_here(request)
    if role != Role.OFFICER and ticked:
        raise _refused(request, "areas are for officers")
    wanted = set(ticked) if role == Role.OFFICER else set()
    if wanted - set(known):
        raise _refused(request, "that area is not one of this municipality's")
    held = set(await participation.officer_areas(here, user_id))
    for area in sorted(wanted - held):
        await participation.grant_area(here, user_id, area, actor=actor)
    for area in sorted(held - wanted):
        await participation.revoke_area(here, user_id, area, actor=actor)


# --- Open311 keys --------------------------------------------------------------------


async def _keys_page(request: web.Request, *, made: str = "", name: str = "") -> web.Response:
    keys = await desk_of(request).keys.keys(municipality_id(request))
    return page(request, "open311_keys.html", keys=keys, made=made, made_name=name,
                cx=translator(language_of(request)))


@requires(Role.ADMIN)
async def keys_page(request: web.Request) -> web.Response:
    return await _keys_page(request)


@requires(Role.ADMIN)
async def keys_change(request: web.Request) -> web.StreamResponse:
    """``action=create`` (name): the page with the new key, once; ``action=revoke`` (key)."""
    form = await request.post()
    desk, here = desk_of(request), municipality_id(request)
    actor = session_of(request).user.actor
    if _field(form, "action", 10) == "revoke":
        key_id = parse_id(_field(form, "key", 20))
        if key_id is None or not await desk.revoke(here, key_id, actor=actor):
            raise web.HTTPNotFound(text=refusal("no such key here", language_of(request)))
        raise web.HTTPSeeOther("/admin/open311")
    name = _field(form, "name", 200)
    try:
        _, key = await desk.make_key(here, name, actor=actor)
    except ValueError as exc:
        raise _refused(request, str(exc)) from None
    return await _keys_page(request, made=key, name=" ".join(name.split()))

"""Admins' alerts page: which cause notifies whom (rules), who is on duty (the roster),
where each person is reached (contacts, quiet hours), and texts to citizens.

The store (``ivr.store.alert_admin``, ``ivr.store.texts``) checks and records every
change as an event of the municipality; a refusal (``RuleError``) is a 400 in the
viewer's language. Times on this page are the municipality's wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from ivr.domain.alerting import CAUSES, ROLES, RuleError
from ivr.domain.notices import TextSettings
from ivr.domain.roles import Role
from ivr.store.alert_admin import AlertAdmin
from operator_console.i18n import translate, translate_error
from operator_console.render import language_of, page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import Console, console_of, municipalities_of
from operator_console.views.messaging import texts_of
from operator_console.views.queue import incident_types

HERE = "/admin/alerts"
Form = MultiDictProxy[Any]


def alerts_of(console: Console) -> AlertAdmin:
    if console.alerts is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return console.alerts


def refused(request: web.Request, exc: RuleError) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=translate_error(str(exc), language_of(request)))


async def _zone(request: web.Request) -> ZoneInfo:
    place = await municipalities_of(request).get(municipality_id(request))
    return ZoneInfo(place.timezone if place is not None else "UTC")


def local_text(value: str, zone: ZoneInfo) -> str:
    """A stored UTC time as the municipality's wall clock, to the minute."""
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def local_moment(raw: str, zone: ZoneInfo) -> datetime:
    """A form's local date and time (``YYYY-MM-DDTHH:MM``) in the municipality's zone."""
    try:
        moment = datetime.fromisoformat(raw.strip()[:19])
    except ValueError as exc:
        raise RuleError("give the start and the end as date and time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _field(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _actor(request: web.Request) -> str:
    return session_of(request).user.actor


@requires(Role.ADMIN)
async def alerts_page(request: web.Request) -> web.Response:
    console = console_of(request)
    here = municipality_id(request)
    alerts = alerts_of(console)
    zone = await _zone(request)
    language = language_of(request)
    staff = await alerts.staff(here)
    names = {p["id"]: p["name"] for p in staff}
    shifts = [{**s, "starts": local_text(s["starts_at"], zone),
               "ends": local_text(s["ends_at"], zone)}
              for s in await alerts.shifts(here, datetime.now(UTC))]
    types = await incident_types(console, here)
    return page(
        request, "alerts_admin.html",
        rules=[{"rule": r, "who": _audience(r.audience, names, language)}
               for r in await alerts.rules(here)],
        causes=list(CAUSES), roles=ROLES, staff=staff,
        on_call=[p for p in staff if p["active"] and p["role"] in ROLES],
        shifts=shifts, zone=zone.key,
        settings=await texts_of(console).settings(here),
        types=[(t.id, t.labels.get(language) or t.labels.get("es") or t.id) for t in types],
        changes=await alerts.changes(here),
    )


def _audience(audience: str, names: dict[int, str], language: str) -> str:
    kind, _, who = audience.partition(":")
    if kind == "user":
        return names.get(int(who), f"#{who}") if who.isdigit() else audience
    return f"{translate('aud.' + kind, language)}: {translate('role.' + who, language)}"


@requires(Role.ADMIN)
async def add_rule(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cause = _field(form, "cause")
    kind = _field(form, "audience")
    who = _field(form, "user") if kind == "user" else _field(form, "role")
    wait = _field(form, "after_s") or "0"
    try:
        if not cause:
            raise RuleError("pick the cause")
        if not (wait.isascii() and wait.isdigit() and len(wait) <= 6):
            raise RuleError("the escalation wait is a number of seconds")
        after_s = int(wait) if cause == "unacknowledged" else 0  # only escalations wait
        await alerts_of(console_of(request)).add_rule(
            municipality_id(request), cause, f"{kind}:{who}", sms=form.get("sms") == "1",
            email=form.get("email") == "1", after_s=after_s, actor=_actor(request),
            now=datetime.now(UTC))
    except RuleError as exc:
        raise refused(request, exc) from exc
    raise web.HTTPSeeOther(HERE)


@requires(Role.ADMIN)
async def remove_rule(request: web.Request) -> web.StreamResponse:
    rule = parse_id(request.match_info.get("rule"))
    if rule is None or not await alerts_of(console_of(request)).remove_rule(
            municipality_id(request), rule, _actor(request), datetime.now(UTC)):
        raise web.HTTPNotFound(text="no such rule")
    raise web.HTTPSeeOther(HERE)


@requires(Role.ADMIN)
async def add_shift(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    zone = await _zone(request)
    try:
        user = parse_id(_field(form, "user"))
        if user is None:
            raise RuleError("pick a user")
        rank = _field(form, "rank") or "1"
        if not (rank.isascii() and rank.isdigit() and len(rank) == 1):
            raise RuleError("the rank is 1 (told first) to 9")
        role = _field(form, "role")
        if role not in ROLES:
            raise RuleError("pick operator, supervisor or admin")
        await alerts_of(console_of(request)).add_shift(
            municipality_id(request), user, role, local_moment(_field(form, "starts"), zone),
            local_moment(_field(form, "ends"), zone), int(rank), _actor(request),
            datetime.now(UTC))
    except RuleError as exc:
        raise refused(request, exc) from exc
    raise web.HTTPSeeOther(HERE)


@requires(Role.ADMIN)
async def remove_shift(request: web.Request) -> web.StreamResponse:
    shift = parse_id(request.match_info.get("shift"))
    if shift is None or not await alerts_of(console_of(request)).remove_shift(
            municipality_id(request), shift, _actor(request), datetime.now(UTC)):
        raise web.HTTPNotFound(text="no such shift")
    raise web.HTTPSeeOther(HERE)


def quiet_hours(raw: str) -> tuple[str | None, str | None]:
    """``22:00-07:00`` → ("22:00", "07:00"); empty → no quiet hours (the store checks
    each time)."""
    raw = raw.replace(" ", "")
    if not raw:
        return None, None
    start, sep, end = raw.partition("-")
    if not (sep and start and end):
        raise RuleError("quiet hours are HH:MM-HH:MM")
    return start, end


@requires(Role.ADMIN)
async def save_contact(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    here = municipality_id(request)
    alerts = alerts_of(console)
    user = parse_id(request.match_info.get("user"))
    if user is None or not await alerts.member(user, here):
        raise web.HTTPNotFound(text="no such user")
    form = await request.post()
    try:
        # The same rule as the accounts page: an account shared with another
        # municipality is only this admin's to give a role (its phone would page there).
        if len(await console.users.roles(user)) > 1:
            raise RuleError("this account works for another municipality too: its contact"
                            " is not this admin's to change")
        start, end = quiet_hours(_field(form, "quiet"))
        await alerts.set_contact(
            here, user, phone=_field(form, "phone"), email=_field(form, "email"),
            quiet_from=start, quiet_until=end, actor=_actor(request), now=datetime.now(UTC))
    except RuleError as exc:
        raise refused(request, exc) from exc
    raise web.HTTPSeeOther(HERE)


@requires(Role.ADMIN)
async def save_texts(request: web.Request) -> web.StreamResponse:
    """The municipality's SMS number and which texts citizens get."""
    console = console_of(request)
    here = municipality_id(request)
    form = await request.post()
    known = {t.id for t in await incident_types(console, here)}
    quiet = {str(v) for v in form.getall("quiet_type", [])}
    number = "".join(ch for ch in _field(form, "number") if ch not in " +-()")
    try:
        if quiet - known:
            raise RuleError("unknown incident type")
        if number and not (number.isascii() and number.isdigit() and 3 <= len(number) <= 15):
            raise RuleError("an SMS number is 3 to 15 digits")
        if number and await alerts_of(console).number_taken(number, here):
            raise RuleError("that SMS number is another municipality's")
    except RuleError as exc:
        raise refused(request, exc) from exc
    await texts_of(console).save_settings(here, TextSettings(
        number or None, receipt=form.get("receipt") == "1",
        on_dispatched=form.get("on_dispatched") == "1",
        on_resolved=form.get("on_resolved") == "1", quiet_types=frozenset(quiet)),
        _actor(request), datetime.now(UTC))
    raise web.HTTPSeeOther(HERE)

"""Officers' and supervisors' pages of citizens' cases: the queue, a case (listen, call
back, answer, close, reopen) and the supervision of deadlines. Entering a case from the
counter or e-mail is in ``case_forms``.

Every change goes through a use case: ``ivr.core.participation`` (answer, close, reopen,
which areas a person answers for), ``ivr.core.callbacks`` (the call), ``ivr.core.cases``
(the listen's audit). A case outside the person's areas, or of another municipality, is
a 404 like a case that does not exist.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from ivr.core.callbacks import CallbackRefused, TelephonyDown
from ivr.core.participation import CaseRefused
from ivr.domain.business_days import Calendar
from ivr.domain.roles import Role
from ivr.store.case_views import DUE, QUEUE_PAGE, STATES, CaseFilters, CaseViews
from operator_console.render import language_of, page
from operator_console.security import (
    municipality_id,
    parse_id,
    report_in_scope,
    requires,
    session_of,
)
from operator_console.state import console_of
from operator_console.views.case_text import refusal, translator
from operator_console.views.clips import clip_file, record_listen_if_start

logger = logging.getLogger(__name__)

def participation_of(request: web.Request) -> Any:
    """``ivr.core.participation.Participation``, set when the console starts."""
    found = console_of(request).participation
    if found is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return found


def views_of(request: web.Request) -> CaseViews:
    return CaseViews(console_of(request).db)


def refused(request: web.Request, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=refusal(message, language_of(request)))


@dataclass(frozen=True)
class Scope:
    """Where the session works: its municipality, the areas it sees (None: all), the
    municipality's calendar and local date."""

    municipality: int
    areas: Sequence[str] | None
    calendar: Calendar
    today: date
    near_days: int  # business days left at which a case is near its deadline

    @property
    def near_until(self) -> date:
        return self.calendar.add_business_days(self.today, self.near_days)


async def scope_of(request: web.Request) -> Scope:
    participation = participation_of(request)
    here = municipality_id(request)
    user = session_of(request).user
    areas = await participation.areas_seen(here, user.id, user.role)
    return Scope(here, None if areas is None else list(areas),
                 await participation.calendar(here), await participation.today(here),
                 participation.settings.near_days)


def deadline(case: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """The case with its business days left (negative: late by), and whether it is
    overdue or near; only an open case has a running deadline."""
    due = date.fromisoformat(case["due_on"])
    running = case["state"] == "open"
    overdue = running and scope.today > due
    return {**case, "days_left": scope.calendar.business_days_between(scope.today, due),
            "overdue": overdue, "near": running and not overdue and due <= scope.near_until}


async def labels_of(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """Area and kind labels of the municipality's live participation lines."""
    areas: dict[str, str] = {}
    kinds: dict[str, str] = {}
    catalogue = console_of(request).catalogue
    if catalogue is not None:
        language = language_of(request)
        for line in await catalogue.live_configs(municipality_id(request), "participation"):
            fallback = line.languages[0] if line.languages else "es"
            for area in line.areas:
                areas.setdefault(area.id, area.label(language, fallback))
            for kind in line.types:
                kinds.setdefault(kind.id, kind.label(language, fallback))
    return areas, kinds


def _filters(request: web.Request, scope: Scope) -> CaseFilters:
    q = request.query
    state = q.get("state", "open")
    if state not in (*STATES, "all"):
        raise refused(request, "pick a state")
    due = q.get("due", "")
    if due and due not in DUE:
        raise refused(request, "pick a deadline filter")
    raw_page = q.get("page", "0") or "0"
    number = parse_id(raw_page)
    if number is None or number > 10_000:
        raise refused(request, "a page is a number")
    return CaseFilters(today=scope.today, near_until=scope.near_until,
                       area=q.get("area", "")[:48], state="" if state == "all" else state,
                       kind=q.get("kind", "")[:48], due=due, page=number)


@requires(Role.OFFICER)
async def queue_page(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    f = _filters(request, scope)
    rows = await views_of(request).queue(scope.municipality, scope.areas, f)
    areas, kinds = await labels_of(request)
    shown = areas if scope.areas is None else {a: areas.get(a, a) for a in scope.areas}
    return page(request, "cases.html", rows=[deadline(r, scope) for r in rows[:QUEUE_PAGE]],
                more=len(rows) > QUEUE_PAGE, f=f, areas=areas, kinds=kinds, shown=shown,
                no_areas=scope.areas is not None and not scope.areas,
                cx=translator(language_of(request)))


async def case_in_scope(request: web.Request, scope: Scope) -> int:
    """The case of the URL when the session may see it; else 404, as for no case."""
    number = report_in_scope(request, "case")
    if await views_of(request).case(number, scope.municipality, scope.areas) is None:
        raise web.HTTPNotFound(text="no such case")
    return number


@requires(Role.OFFICER)
async def case_page(request: web.Request) -> web.Response:
    console = console_of(request)
    scope = await scope_of(request)
    number = report_in_scope(request, "case")
    found = await views_of(request).case_page(number, scope.municipality, scope.areas)
    if found is None:
        raise web.HTTPNotFound(text="no such case")
    from ivr.store.clip_views import transcripts_of

    areas, kinds = await labels_of(request)
    return page(request, "case.html", case=deadline(found["case"], scope),
                clips=found["clips"], callbacks=found["callbacks"], history=found["history"],
                transcripts=await transcripts_of(
                    console.db, number, low_below=console.settings.transcript_low_confidence),
                areas=areas, kinds=kinds, request_key=secrets.token_urlsafe(16),
                ami_state=console.ami.state.value if console.ami is not None else "disabled",
                supervisor=session_of(request).user.role.allows(Role.SUPERVISOR),
                cx=translator(language_of(request)))


@requires(Role.OFFICER)
async def case_clip(request: web.Request) -> web.StreamResponse:
    """A clip of the case, served as the incident clip route serves it (Range, no cache),
    and its first request written to the case's history as a listen."""
    console = console_of(request)
    number = await case_in_scope(request, await scope_of(request))
    clip_id = parse_id(request.match_info.get("clip"))
    row = None if clip_id is None else await views_of(request).clip(number, clip_id)
    if row is None:
        raise web.HTTPNotFound(text="no such clip")
    if row["purged_at"]:
        raise web.HTTPGone(text="this clip was removed under the retention rules")
    root = console.settings.voiceclips.resolve()
    path = clip_file(root, row["path"])
    if path is None:
        logger.warning("case %d: clip %d is missing from %s", number, row["id"], root)
        raise web.HTTPNotFound(text="the clip file is missing")
    await record_listen_if_start(request, number, row["id"])
    return web.FileResponse(path, headers={
        "Content-Type": "audio/wav",
        "Content-Disposition": f'inline; filename="case-{number}-clip-{row["id"]}.wav"',
        "Cache-Control": "private, no-store",
    })


@requires(Role.OFFICER)
async def call_back(request: web.Request) -> web.StreamResponse:
    """Ring the officer's phone, then the citizen's (``ivr.core.callbacks``)."""
    console = console_of(request)
    number = await case_in_scope(request, await scope_of(request))
    user = session_of(request).user
    form = await request.post()
    try:
        if console.callbacks is None:
            raise TelephonyDown("starting up")
        await console.callbacks.call_back(
            number, request_key=str(form.get("request_key", "")),
            number=str(form.get("number", "")) or None, extension=user.extension,
            actor=user.actor)
    except CallbackRefused as exc:
        raise refused(request, str(exc)) from exc
    except TelephonyDown as exc:
        raise web.HTTPServiceUnavailable(text=refusal(str(exc), language_of(request))) from exc
    raise web.HTTPSeeOther(f"/cases/{number}")


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


@requires(Role.OFFICER)
async def answer(request: web.Request) -> web.StreamResponse:
    number = await case_in_scope(request, await scope_of(request))
    form = await request.post()
    await _act(request, "answer", number, text=_text(form, "text", 4000),
               speak=form.get("speak") == "1")
    raise web.HTTPSeeOther(f"/cases/{number}")


@requires(Role.OFFICER)
async def close(request: web.Request) -> web.StreamResponse:
    number = await case_in_scope(request, await scope_of(request))
    await _act(request, "close", number)
    raise web.HTTPSeeOther(f"/cases/{number}")


@requires(Role.SUPERVISOR)
async def reopen(request: web.Request) -> web.StreamResponse:
    number = await case_in_scope(request, await scope_of(request))
    form = await request.post()
    await _act(request, "reopen", number, reason=_text(form, "reason", 500))
    raise web.HTTPSeeOther(f"/cases/{number}")


async def _act(request: web.Request, what: str, number: int, **kw: Any) -> None:
    """One of the use case's changes, by the person as it checks them (role, municipality,
    areas); its refusal a 400 in the reader's language."""
    participation = participation_of(request)
    user = session_of(request).user
    person = await participation.person(municipality_id(request), user.id, user.role,
                                        user.actor)
    try:
        await getattr(participation, what)(number, actor=person, **kw)
    except CaseRefused as exc:
        raise refused(request, str(exc)) from exc


def month_of(today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


@requires(Role.SUPERVISOR)
async def supervision_page(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    views = views_of(request)
    month = month_of(scope.today)
    rows = await views.by_area(scope.municipality, scope.today, scope.near_until, month)
    total = {k: sum(r[k] for r in rows)
             for k in ("open", "near", "overdue", "on_time", "late")}
    late = [{**deadline(r, scope),
             "days_late": scope.calendar.business_days_between(
                 date.fromisoformat(r["due_on"]), scope.today)}
            for r in await views.overdue(scope.municipality, scope.today)]
    areas, kinds = await labels_of(request)
    return page(request, "case_supervision.html", rows=rows, total=total, late=late,
                month=f"{month[0]:%Y-%m}", areas=areas, kinds=kinds,
                cx=translator(language_of(request)))

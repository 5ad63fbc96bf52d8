"""The live queue: open reports, emergencies first, then by age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.analytics import dashboard
from ivr.domain.lines import IncidentType
from ivr.domain.roles import Role
from operator_console.render import page
from operator_console.security import municipality_id, requires, session_of, signed_in
from operator_console.state import Console, console_of
from operator_console.views.rows import decorate


async def queue_rows(console: Console, municipality: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    release = console.settings.callback_release_minutes
    return [decorate(r, now, release) for r in await console.queries.queue(municipality)]


async def incident_types(console: Console, municipality: int | None = None
                         ) -> list[IncidentType]:
    """The incident types of a municipality's live lines (of all, without one), as admins
    labelled them; the configuration file's when no line is published (a console
    started against an empty store)."""
    types = (await console.catalogue.incident_types(municipality) if console.catalogue
             else [])
    return types or [IncidentType(t.id, t.priority, t.emergency, t.callback_minutes,
                                  {"es": t.label_es, "en": t.label_en})
                     for t in console.settings.keypad.types]


async def type_labels(console: Console, language: str,
                      municipality: int | None = None) -> dict[str, str]:
    return dashboard.type_labels(await incident_types(console, municipality), language)


@signed_in
async def index(request: web.Request) -> web.Response:
    """The queue; an analyst (who reads dashboards only) starts on the dashboard, an
    officer (who answers citizens' cases) on the cases."""
    role = session_of(request).user.role
    if not role.allows(Role.OPERATOR):
        raise web.HTTPSeeOther("/cases" if role == Role.OFFICER else "/dashboard")
    console = console_of(request)
    here = municipality_id(request)
    rows = await queue_rows(console, here)
    from operator_console.render import language_of

    return page(request, "queue.html", rows=rows, last_event=console.feed.last_id,
                labels=await type_labels(console, language_of(request), here),
                open_count=await console.queries.open_count(here))


@requires(Role.OPERATOR)
async def rows_fragment(request: web.Request) -> web.Response:
    console = console_of(request)
    from operator_console.render import language_of

    here = municipality_id(request)
    return page(request, "_queue_rows.html", rows=await queue_rows(console, here),
                labels=await type_labels(console, language_of(request), here))


@requires(Role.OPERATOR)
async def queue_api(request: web.Request) -> web.Response:
    rows = await queue_rows(console_of(request), municipality_id(request))
    return web.json_response({"reports": rows})

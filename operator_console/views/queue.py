"""The live queue: open reports, emergencies first, then by age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.analytics import dashboard
from ivr.domain.lines import IncidentType
from ivr.domain.roles import Role
from operator_console.render import page
from operator_console.security import requires
from operator_console.state import Console, console_of
from operator_console.views.rows import decorate


async def queue_rows(console: Console) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    release = console.settings.callback_release_minutes
    return [decorate(r, now, release) for r in await console.queries.queue()]


async def incident_types(console: Console) -> list[IncidentType]:
    """The incident types of the live lines, as admins labelled them; the configuration
    file's when no line is published (a console started against an empty store)."""
    types = await console.catalogue.incident_types() if console.catalogue else []
    return types or [IncidentType(t.id, t.priority, t.emergency, t.callback_minutes,
                                  {"es": t.label_es, "en": t.label_en})
                     for t in console.settings.keypad.types]


async def type_labels(console: Console, language: str) -> dict[str, str]:
    return dashboard.type_labels(await incident_types(console), language)


@requires(Role.OPERATOR)
async def index(request: web.Request) -> web.Response:
    console = console_of(request)
    rows = await queue_rows(console)
    from operator_console.render import language_of

    return page(request, "queue.html", rows=rows, last_event=console.feed.last_id,
                labels=await type_labels(console, language_of(request)),
                open_count=await console.queries.open_count())


@requires(Role.OPERATOR)
async def rows_fragment(request: web.Request) -> web.Response:
    console = console_of(request)
    from operator_console.render import language_of

    return page(request, "_queue_rows.html", rows=await queue_rows(console),
                labels=await type_labels(console, language_of(request)))


@requires(Role.OPERATOR)
async def queue_api(request: web.Request) -> web.Response:
    rows = await queue_rows(console_of(request))
    return web.json_response({"reports": rows})

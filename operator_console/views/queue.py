"""The live queue: open reports, emergencies first, then by age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.domain.roles import Role
from operator_console.render import page
from operator_console.security import requires
from operator_console.state import Console, console_of
from operator_console.views.rows import decorate


async def queue_rows(console: Console) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    release = console.settings.callback_release_minutes
    return [decorate(r, now, release) for r in await console.queries.queue()]


def type_labels(console: Console, language: str) -> dict[str, str]:
    labels = {"operator": "Operador" if language != "en" else "Operator"}
    for t in console.settings.keypad.types:
        labels[t.id] = (t.label_en if language == "en" else t.label_es) or t.id
    return labels


@requires(Role.OPERATOR)
async def index(request: web.Request) -> web.Response:
    console = console_of(request)
    rows = await queue_rows(console)
    from operator_console.render import language_of

    return page(request, "queue.html", rows=rows, last_event=console.feed.last_id,
                labels=type_labels(console, language_of(request)),
                open_count=await console.queries.open_count())


@requires(Role.OPERATOR)
async def rows_fragment(request: web.Request) -> web.Response:
    console = console_of(request)
    from operator_console.render import language_of

    return page(request, "_queue_rows.html", rows=await queue_rows(console),
                labels=type_labels(console, language_of(request)))


@requires(Role.OPERATOR)
async def queue_api(request: web.Request) -> web.Response:
    rows = await queue_rows(console_of(request))
    return web.json_response({"reports": rows})

"""The metropolitan view: the municipalities a user may read, side by side.

Each is counted on its own clock, over its own calendar month so far and the whole
month before, from the same rollups as its dashboard; only municipalities where the
user holds a role that reads analytics are shown (an analyst of several, a
supervisor of one sees that one).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from ivr.analytics import charts, dashboard
from ivr.domain.roles import Role
from ivr.store import panels
from ivr.store.panels import Filters
from operator_console.render import language_of, page
from operator_console.security import requires, session_of
from operator_console.state import console_of, municipalities_of
from operator_console.views import analytics_text
from operator_console.views.queue import incident_types


def _month_before(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


@requires(Role.ANALYST)
async def metro_page(request: web.Request) -> web.Response:
    console = console_of(request)
    language = language_of(request)
    roles = await console.users.roles(session_of(request).user.id)
    towns = [m for m in await municipalities_of(request).all()
             if m.id in roles and roles[m.id].allows(Role.ANALYST)]
    columns: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    for town in towns:
        clock = await dashboard.stored_clock(console.db, town.id)
        today = dashboard.local_today(clock)
        first = today.replace(day=1)
        now = Filters(first, today + timedelta(days=1), municipalities=(town.id,))
        before = Filters(_month_before(first), first, municipalities=(town.id,))
        k = await panels.kpis(console.db, now, clock)
        by_type = await panels.by_type(console.db, now)
        last = await panels.by_type(console.db, before)
        for code, name in dashboard.type_labels(await incident_types(console, town.id),
                                                language).items():
            labels.setdefault(code, name)
        columns.append({
            "town": town, "since": first, "today": today, "kpis": k, "by_type": by_type,
            "before_by_type": last, "before": sum(last.values()),
            "reports": sum(by_type.values()),
        })
    types = sorted({t for c in columns for t in (*c["by_type"], *c["before_by_type"])},
                   key=lambda t: (-sum(c["by_type"].get(t, 0) for c in columns), t))
    return page(request, "metro.html", columns=columns, types=types, labels=labels,
                tx=analytics_text.translator(language), number=charts.number,
                percent=dashboard.percent, signed_percent=dashboard.signed_percent,
                duration=dashboard.duration, change=panels.change)

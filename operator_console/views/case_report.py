"""The monthly report of citizens' cases (supervisors, admins, analysts): per area and
kind, the cases received in the month, answered on time, answered late, and overdue
without an answer; the on-time rate; and the same as CSV.

The figures are the use case's (``Participation.monthly``); this module only lays them
out. Counts only: no case, caller or text is named.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from aiohttp import web

from ivr.analytics import dashboard
from ivr.analytics.cases import Figures, figures
from ivr.analytics.exports import safe_cell
from ivr.domain.roles import Role
from operator_console.render import language_of, page
from operator_console.security import municipality_id, requires
from operator_console.state import console_of
from operator_console.views.case_admin import participation_of
from operator_console.views.case_admin_text import refusal, translator

_MONTH = re.compile(r"(\d{4})-(\d{2})")
COLUMNS = ("month", "area", "area_name", "kind", "kind_name", "received", "answered_on_time",
           "answered_late", "overdue", "on_time_rate")


def month_of(raw: str | None, today: date) -> str:
    if not raw:
        return f"{today:%Y-%m}"
    found = _MONTH.fullmatch(raw.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise ValueError("pick a month (YYYY-MM)")
    return raw.strip()


async def _labels(request: web.Request) -> tuple[dict[str, str], dict[str, str]]:
    """Area and kind labels from the live participation lines (ids when gone)."""
    areas: dict[str, str] = {}
    kinds: dict[str, str] = {}
    catalogue = console_of(request).catalogue
    if catalogue is not None:
        language = language_of(request)
        for line in await catalogue.live_configs(municipality_id(request), "participation"):
            for area in line.areas:
                areas.setdefault(area.id, area.label(language, line.languages[0]))
            for kind in line.types:
                kinds.setdefault(kind.id, kind.label(language, line.languages[0]))
    return areas, kinds


async def _report(request: web.Request) -> tuple[str, list[Figures]]:
    console = console_of(request)
    here = municipality_id(request)
    today = dashboard.local_today(await dashboard.stored_clock(console.db, here))
    try:
        month = month_of(request.query.get("month"), today)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=refusal(str(exc), language_of(request))) from None
    return month, figures(await participation_of(request).monthly(here, month))


@requires(Role.ANALYST)
async def report_page(request: web.Request) -> web.Response:
    month, rows = await _report(request)
    areas, kinds = await _labels(request)
    return page(request, "case_report.html", month=month, rows=rows, areas=areas, kinds=kinds,
                cx=translator(language_of(request)))


@requires(Role.ANALYST)
async def report_csv(request: web.Request) -> web.Response:
    month, rows = await _report(request)
    areas, kinds = await _labels(request)
    out = io.StringIO()
    out.write("\ufeff")  # so a spreadsheet reads the accents as UTF-8
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([month, r.area, safe_cell(areas.get(r.area, r.area)), r.kind or "total",
                         safe_cell(kinds.get(r.kind, r.kind)) if r.kind else "", r.received,
                         r.on_time,
                         r.late, r.overdue, "" if r.rate is None else f"{r.rate:.3f}"])
    return web.Response(
        body=out.getvalue().encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="casos-{month}.csv"'})

"""A report's page and what an operator does there; search; manual entry."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.core.cases import CaseError
from ivr.core.intake import Entry, IntakeRefused
from ivr.domain.municipalities import municipality_of
from ivr.domain.municipalities import report_id as report_number_id
from ivr.domain.reports import TRANSITIONS, ReportState
from ivr.domain.roles import MANUAL_INTAKES, Role
from ivr.store.queries import PAGE, Filters
from operator_console.render import language_of, page
from operator_console.security import (
    municipality_id,
    parse_id,
    person_of,
    report_in_scope,
    requires,
    session_of,
    wants_html,
)
from operator_console.state import Console, console_of, desk_of, municipalities_of
from operator_console.views.messaging import report_messages
from operator_console.views.queue import incident_types, type_labels
from operator_console.views.rows import decorate


async def report_id(request: web.Request) -> int:
    """The incident report of the URL, if it is the session's municipality's (else 404):
    every route about one report starts here. A citizen's case (a participation line's)
    has its own pages, for its area's officers: a page asked for here goes there, and
    anything else about it is no incident report (404)."""
    number = report_in_scope(request)
    if await console_of(request).queries.is_case(number):
        if wants_html(request):
            raise web.HTTPSeeOther(f"/cases/{number}")
        raise web.HTTPNotFound(text="no such report: this is a citizen's case (/cases)")
    return number


async def clip_context(console: Console, number: int) -> dict[str, Any]:
    """Transcripts (doubtful words marked), waveforms and whether transcription runs."""
    from ivr.store.clip_views import audio_of, jobs_of, transcripts_of
    from operator_console.views.clip_admin import waveform_bars

    audio = {a["clip_id"]: a for a in await audio_of(console.db, number)}
    for item in audio.values():
        peaks = [float(v) / 100.0 for v in item["waveform"]]  # stored 0..100
        item["overview"] = waveform_bars(peaks, float(item.get("playback_s") or 0.0))
    return {
        "transcripts": await transcripts_of(
            console.db, number, low_below=console.settings.transcript_low_confidence),
        "audio": audio,
        "jobs": await jobs_of(console.db, number),
        "transcription_off": console.transcription_off,
    }


async def _detail(console: Console, number: int) -> dict[str, Any]:
    row = await console.queries.report(number, municipality_of(number))
    if row is None:
        raise web.HTTPNotFound(text="no such report")
    now = datetime.now(UTC)
    return decorate(row, now, console.settings.callback_release_minutes)


@requires(Role.OPERATOR)
async def report_page(request: web.Request) -> web.Response:
    console = console_of(request)
    number = await report_id(request)
    report = await _detail(console, number)
    state = ReportState(report["state"])
    return page(
        request, "report.html",
        report=report,
        clips=await console.queries.clips(number),
        history=await console.queries.history(number),
        messages=await report_messages(console, number),
        callbacks=await console.queries.callbacks(number),
        earlier=await console.queries.caller_reports(report["caller"] or "", number),
        **await clip_context(console, number),
        allowed=sorted(s.value for s in TRANSITIONS[state]),
        labels=await type_labels(console, language_of(request), municipality_of(number)),
        neighbours=await municipalities_of(request).neighbours(municipality_of(number)),
        request_key=secrets.token_urlsafe(16),
        ami_state=console.ami.state.value if console.ami is not None else "disabled",
        last_event=console.feed.last_id,
    )


@requires(Role.OPERATOR)
async def history_fragment(request: web.Request) -> web.Response:
    console = console_of(request)
    number = await report_id(request)
    report = await _detail(console, number)
    return page(request, "_report_live.html", report=report,
                history=await console.queries.history(number),
                messages=await report_messages(console, number),
                callbacks=await console.queries.callbacks(number),
                clips=await console.queries.clips(number),
                **await clip_context(console, number),
                neighbours=await municipalities_of(request).neighbours(municipality_of(number)),
                allowed=sorted(s.value for s in TRANSITIONS[ReportState(report["state"])]))


@requires(Role.OPERATOR)
async def change_state(request: web.Request) -> web.StreamResponse:
    number = await report_id(request)
    form = await request.post()
    await desk_of(request).change_state(
        number, str(form.get("state", "")), person_of(request), note=str(form.get("note", "")),
        unit=str(form.get("unit", "")), duplicate_of=str(form.get("duplicate_of", "")))
    return done(request, number)


@requires(Role.OPERATOR)
async def add_note(request: web.Request) -> web.StreamResponse:
    number = await report_id(request)
    form = await request.post()
    await desk_of(request).add_note(number, str(form.get("text", "")), person_of(request))
    return done(request, number)


@requires(Role.OPERATOR)
async def reserve(request: web.Request) -> web.StreamResponse:
    number = await report_id(request)
    form = await request.post()
    await desk_of(request).reserve(number, person_of(request), release=form.get("release") == "1")
    return done(request, number)


@requires(Role.OPERATOR)
async def hand_over(request: web.Request) -> web.StreamResponse:
    """Give the report to a neighbouring municipality (its history and clips go with it)."""
    number = await report_id(request)
    form = await request.post()
    neighbour = parse_id(str(form.get("to", "")))
    if neighbour is None:
        raise CaseError("pick the municipality to hand the report over to")
    await desk_of(request).hand_over(number, neighbour, person_of(request),
                                     note=str(form.get("note", "")))
    return done(request, number)


def done(request: web.Request, number: int) -> web.StreamResponse:
    if request.headers.get("X-Requested-With") == "fetch":
        return web.json_response({"ok": True, "report": number})
    raise web.HTTPSeeOther(f"/reports/{number}")


@requires(Role.OPERATOR)
async def search_page(request: web.Request) -> web.Response:
    console = console_of(request)
    q = request.query
    filters = Filters(
        types=[t for t in q.getall("type", []) if t][:20],
        states=[s for s in q.getall("state", []) if s in ReportState.__members__.values()][:7],
        zone=q.get("zone", "")[:8],
        since=_date(q.get("since", "")),
        until=_date(q.get("until", ""), end=True),
        caller="".join(ch for ch in q.get("caller", "") if ch in "0123456789")[:20],
        words=q.get("words", "")[:200],
        before=parse_id(q.get("before")),
    )
    here = municipality_id(request)
    number = q.get("number", "").strip().lstrip("#")
    if number.isascii() and number.isdigit() and 0 < len(number) <= 10 and int(number) > 0:
        raise web.HTTPSeeOther(f"/reports/{report_number_id(here, int(number))}")
    rows = await console.queries.search(filters, here)
    now = datetime.now(UTC)
    release = console.settings.callback_release_minutes
    older = {k: v for k, v in q.items() if k != "before"}
    if rows:
        older["before"] = str(rows[-1]["id"])
    return page(
        request, "search.html", rows=[decorate(r, now, release) for r in rows], filters=filters,
        states=[s.value for s in ReportState],
        labels=await type_labels(console, language_of(request), here),
        zones=console.settings.zones, query=q,
        older_qs=urlencode(list(older.items())) if len(rows) == PAGE else "",
    )


def _date(raw: str, *, end: bool = False) -> str:
    """A yyyy-mm-dd or yyyy-mm-ddThh:mm from a form → an ISO UTC bound; '' when absent."""
    raw = raw.strip()[:20]
    if not raw:
        return ""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise CaseError(f"{raw!r} is not a date") from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()
    if end and len(raw) == 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@requires(Role.OPERATOR)
async def new_form(request: web.Request) -> web.Response:
    console = console_of(request)
    here = municipality_id(request)
    return page(request, "new_report.html", channels=[c.value for c in MANUAL_INTAKES],
                types=await incident_types(console, here), zones=console.settings.zones,
                labels=await type_labels(console, language_of(request), here))


@requires(Role.OPERATOR)
async def create(request: web.Request) -> web.StreamResponse:
    """A report taken by hand: the use case (``ivr.core.intake``) checks and opens it."""
    console = console_of(request)
    form = await request.post()
    if console.intake is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    try:
        number = await console.intake.file(Entry(
            type_id=str(form.get("type", "")), channel=str(form.get("channel", "")),
            summary=str(form.get("summary", "")), caller=str(form.get("caller", "")),
            zone=str(form.get("zone", "")), address=str(form.get("address", ""))),
            actor=session_of(request).user.actor, municipality=municipality_id(request))
    except IntakeRefused as exc:
        raise CaseError(str(exc)) from exc
    raise web.HTTPSeeOther(f"/reports/{number}")

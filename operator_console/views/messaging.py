"""Supervising text messages and e-mail: what waits, what failed (sent again from here),
what citizens texted in, and a report's own messages on its page.

The outbox is read through ``ivr.store.outbox``; sending again is the store's
``send_again``, which writes the audit event. Every read and change is of the
session's municipality: a message of another one is "no such message".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.domain.municipalities import municipality_of
from ivr.domain.roles import Role
from ivr.store.outbox import Outbox, shown
from ivr.store.texts import TextStore
from operator_console.render import page
from operator_console.security import municipality_id, parse_id, requires, session_of
from operator_console.state import Console, console_of

# What the filter offers: the states each choice shows ("all": none, i.e. every state).
SHOWN = {
    "waiting": ("pending", "sending"),
    "failed": ("refused", "undelivered"),
    "all": (),
}
STATES = ("pending", "sending", "sent", "delivered", "undelivered", "refused", "grouped")
AGAIN = frozenset({"refused", "undelivered"})
WAITING_TOO_LONG_S = 300.0  # a message older than this still unsent: say so loudly
LISTED = 100


def outbox_of(console: Console) -> Outbox:
    if console.outbox is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return console.outbox


def texts_of(console: Console) -> TextStore:
    if console.texts is None:
        raise web.HTTPServiceUnavailable(text="starting up")
    return console.texts


def row_of(message: dict[str, Any], here: int) -> dict[str, Any]:
    """An outbox row as the pages show it: the recipient masked, the report linked only
    when it is the municipality's own, and whether it may be sent again."""
    report = message.get("report_id")
    return {
        **message,
        "to": shown(message["recipient"]),
        "report": report if report is not None and municipality_of(report) == here else None,
        "can_send_again": message["state"] in AGAIN,
    }


async def report_messages(console: Console, report: int) -> list[dict[str, Any]]:
    """The messages about ``report`` (its page's "Mensajes" section), newest first."""
    here = municipality_of(report)
    rows = await outbox_of(console).listing(here, report=report, limit=50)
    return [row_of(r, here) for r in rows]


@requires(Role.SUPERVISOR)
async def messages_page(request: web.Request) -> web.Response:
    console = console_of(request)
    here = municipality_id(request)
    show = request.query.get("show", "all")
    if show not in SHOWN:
        raise ValueError("show: waiting, failed or all")
    outbox = outbox_of(console)
    summary = await outbox.summary(here, datetime.now(UTC))
    counts: dict[str, dict[str, int]] = summary["counts"]
    totals = {state: sum(c.get(state, 0) for c in counts.values()) for state in STATES}
    incoming = [{**r, "from": shown(r["sender"]),
                 "report": r["report_id"] if r["report_id"] is not None
                 and municipality_of(r["report_id"]) == here else None}
                for r in await texts_of(console).incoming(here, limit=50)]
    rows = await outbox.listing(here, states=SHOWN[show], limit=LISTED)
    return page(
        request, "messages.html", show=show, choices=list(SHOWN), states=STATES,
        counts=counts, totals=totals, oldest_s=summary["oldest_waiting_s"],
        too_long=summary["oldest_waiting_s"] > WAITING_TOO_LONG_S,
        rows=[row_of(r, here) for r in rows], incoming=incoming,
    )


@requires(Role.SUPERVISOR)
async def send_again(request: web.Request) -> web.StreamResponse:
    """A refused or undelivered message goes again (the store records who asked)."""
    console = console_of(request)
    here = municipality_id(request)
    message = parse_id(request.match_info.get("message"))
    form = await request.post()
    if message is None or not await outbox_of(console).send_again(
            message, here, session_of(request).user.actor, datetime.now(UTC)):
        raise web.HTTPNotFound(text="no refused or undelivered message with that number here")
    report = parse_id(str(form.get("report", "")))
    if report is not None and municipality_of(report) == here:
        raise web.HTTPSeeOther(f"/reports/{report}")
    show = str(form.get("show", ""))
    raise web.HTTPSeeOther(f"/messages?show={show if show in SHOWN else 'all'}")

"""Calling the citizen back, over HTTP: the use case is ``ivr.core.callbacks``.

One click is one call: the form carries a random ``request_key`` (see the use case).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from ivr.config import Settings
from ivr.core.callbacks import CallbackDesk, CallbackRefused, CallbackSettings, TelephonyDown
from ivr.core.cases import CaseError
from ivr.core.outage_watch import OutageWatch
from ivr.domain.roles import Role
from operator_console.security import requires, session_of
from operator_console.state import Console, console_of
from operator_console.views.reports import report_id

logger = logging.getLogger(__name__)

def callback_desk(console: Console, settings: Settings) -> CallbackDesk:
    """Built once when the console starts (``console.callbacks``)."""
    return CallbackDesk(console.casework, console.queries, console.ami, CallbackSettings(
        context=settings.callback_context, operator_channel=settings.operator_channel,
        caller_id_name=settings.callback_caller_id,
        ring_timeout_s=settings.callback_ring_timeout_s,
        min_digits=settings.callback_min_digits, max_digits=settings.callback_max_digits))


async def start_ami(console: Console, settings: Settings,
                    watch: OutageWatch | None = None) -> Any:
    """Start the AMI link when a secret is configured; publish its state to consoles, and
    to ``watch`` (an outage past its grace becomes an ``alert.ami_down``)."""
    if not settings.ami_secret:
        console.metrics.ami_state("disabled")
        console.feed.publish("ami", json.dumps({"state": "disabled",
                                                "detail": "no AMI secret configured"}))
        return None
    from ivr.ami.link import AmiLink, CallbackUpdate, LinkState

    def on_state(state: LinkState, detail: str) -> None:
        console.metrics.ami_state(state.value)
        if watch is not None:
            watch.update(state in (LinkState.UP, LinkState.DISABLED), detail)
        console.feed.publish("ami", json.dumps({"state": state.value, "detail": detail}))

    async def on_update(update: CallbackUpdate) -> None:
        if console.callbacks is not None:
            await console.callbacks.record_update(update)

    link = AmiLink(
        host=settings.ami_host, port=settings.ami_port, username=settings.ami_username,
        secret=settings.ami_secret, action_timeout_s=settings.ami_action_timeout_s,
        on_state=on_state, on_update=on_update,
    )
    await link.start()
    on_state(link.state, link.detail)
    return link


@requires(Role.OPERATOR)
async def call_back(request: web.Request) -> web.StreamResponse:
    console = console_of(request)
    session = session_of(request)
    number_id = await report_id(request)
    form = await request.post()
    try:
        if console.callbacks is None:
            raise TelephonyDown("starting up")
        done = await console.callbacks.call_back(
            number_id, request_key=str(form.get("request_key", "")),
            number=str(form.get("number", "")) or None, extension=session.user.extension,
            actor=session.user.actor)
    except CallbackRefused as exc:
        raise CaseError(str(exc)) from exc
    except LookupError:
        raise web.HTTPNotFound(text="no such report") from None
    except TelephonyDown as exc:
        raise web.HTTPServiceUnavailable(text=str(exc)) from exc
    return _answer(request, done.report, done.action_id, done.state, done.reason)


def _answer(request: web.Request, report: int, action_id: str, state: str,
            reason: str) -> web.StreamResponse:
    if request.headers.get("X-Requested-With") == "fetch":
        return web.json_response({"report": report, "action_id": action_id, "state": state,
                                  "reason": reason})
    raise web.HTTPSeeOther(f"/reports/{report}")


@requires(Role.OPERATOR)
async def ami_status(request: web.Request) -> web.Response:
    console = console_of(request)
    if console.ami is None:
        return web.json_response({"state": "disabled", "detail": "no AMI secret configured"})
    return web.json_response({"state": console.ami.state.value, "detail": console.ami.detail})

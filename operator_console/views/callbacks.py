"""Calling the citizen back through AMI: the operator's phone rings first.

One click is one call: the form carries a random ``request_key`` and the
attempt is written (unique on that key) before anything is sent, so a double
click, a resubmitted form or a retried request finds the same attempt.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web

from ivr.domain.roles import Role
from ivr.store.casework import CaseError
from operator_console.security import requires, session_of
from operator_console.state import Console, console_of
from operator_console.views.reports import report_id

logger = logging.getLogger(__name__)

_RESULT_TO_STATE = {
    "ringing": "ringing", "answered": "answered", "busy": "busy", "no_answer": "no_answer",
    "failed": "failed", "unknown": "unknown",
}


async def start_ami(console: Console) -> Any:
    """Start the AMI link when a secret is configured; publish its state to consoles."""
    settings = console.settings
    if not settings.ami_secret:
        console.metrics.ami_state("disabled")
        console.feed.publish("ami", json.dumps({"state": "disabled",
                                                "detail": "no AMI secret configured"}))
        return None
    from ivr.ami.link import AmiLink, CallbackUpdate, LinkState

    def on_state(state: LinkState, detail: str) -> None:
        console.metrics.ami_state(state.value)
        console.feed.publish("ami", json.dumps({"state": state.value, "detail": detail}))

    async def on_update(update: CallbackUpdate) -> None:
        state = _RESULT_TO_STATE.get(update.result.value, "unknown")
        try:
            await console.casework.update_callback(update.action_id, state, update.reason)
        except Exception:
            logger.exception("callback %s: could not record %s", update.action_id, state)

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
    from ivr.ami.link import AmiUnavailable, OriginateRequest
    from ivr.ami.values import UnsafeValue, check_endpoint, check_number

    console = console_of(request)
    settings = console.settings
    session = session_of(request)
    number_id = report_id(request)
    form = await request.post()
    request_key = str(form.get("request_key", ""))
    if not (16 <= len(request_key) <= 64) or not request_key.replace("-", "").replace(
            "_", "").isalnum():
        raise CaseError("the form is stale; reload the page")
    report = await console.queries.report(number_id)
    if report is None:
        raise web.HTTPNotFound(text="no such report")
    number = str(form.get("number", "") or report["caller"] or "").strip()
    if not session.user.extension:
        raise CaseError("your account has no phone extension; ask an administrator to set one")
    try:
        number = check_number("number", number, min_digits=settings.callback_min_digits,
                              max_digits=settings.callback_max_digits)
        endpoint = check_endpoint(
            "endpoint", settings.operator_channel.format(extension=session.user.extension))
    except UnsafeValue as exc:
        raise CaseError(str(exc)) from exc
    if console.ami is None:
        raise web.HTTPServiceUnavailable(text="callbacks are off: no AMI secret is configured")
    action_id = f"alerta-cb-{secrets.token_hex(8)}"
    row, created = await console.casework.start_callback(
        number_id, request_key=request_key, action_id=action_id, actor=session.user.actor,
        endpoint=endpoint, number=number,
    )
    if not created:  # the same click again: report on the attempt already made
        return _answer(request, number_id, row["action_id"], row["state"], "already placed")
    try:
        update = await console.ami.originate(OriginateRequest(
            action_id=action_id, endpoint=endpoint, number=number,
            context=settings.callback_context, report_id=number_id,
            caller_id_name=settings.callback_caller_id, caller_id_number="",
            ring_timeout_s=settings.callback_ring_timeout_s,
            min_digits=settings.callback_min_digits, max_digits=settings.callback_max_digits,
        ))
    except AmiUnavailable as exc:
        await console.casework.update_callback(action_id, "failed", f"not sent: {exc}")
        raise web.HTTPServiceUnavailable(text=f"telephony link is down: {exc}") from exc
    except UnsafeValue as exc:
        await console.casework.update_callback(action_id, "failed", f"refused: {exc}")
        raise CaseError(str(exc)) from exc
    state = _RESULT_TO_STATE.get(update.result.value, "unknown")
    await console.casework.update_callback(action_id, state, update.reason)
    return _answer(request, number_id, action_id, state, update.reason)


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

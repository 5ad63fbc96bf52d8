"""Flow ``report``: a citizen picks an incident type and leaves a voice message.

The report row exists from the moment a type is picked; every later step
updates it as soon as it is captured, so a hangup anywhere keeps what was said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from ivr import variables
from ivr.core.call_control import (
    CallControl,
    CallerHungUp,
    QueueOutcome,
)
from ivr.core.ports import Deps, Location, NewReport
from ivr.core.records import StoreError
from ivr.domain.incidents import OPERATOR_PRIORITY, OPERATOR_TYPE_ID
from ivr.domain.lines import Action, OnFail
from ivr.domain.municipalities import number_of
from ivr.domain.numbers import callback_caller_id, raw_caller_id
from ivr.flows.common import Call, Outcome, Step, line_for
from ivr.flows.menu import choose, choose_language
from ivr.flows.status import tell_status
from ivr.flows.steps import callback_number, close_call, message

logger = logging.getLogger(__name__)


async def run(channel: CallControl, deps: Deps) -> Outcome:
    call = Call(channel, deps, await line_for(channel, deps, "report"))
    try:
        outcome = await _converse(call)
    except CallerHungUp:
        await close_call(call, Outcome.HUNG_UP)
        return Outcome.HUNG_UP
    except asyncio.CancelledError:
        await close_call(call, Outcome.INTERRUPTED)
        raise
    except Exception:
        await close_call(call, Outcome.ERROR)
        raise
    await close_call(call, outcome)
    return outcome


async def _converse(call: Call) -> Outcome:
    channel, config, line = call.channel, call.deps.config, call.line.config
    await channel.answer()
    await call.enter(Step.LANGUAGE)
    await choose_language(call)
    await channel.set_variable(variables.LANGUAGE, call.language)
    on_duty = line.on_duty(call.deps.clock())
    if not on_duty and line.operator_queue:
        await call.say("closed")

    await call.enter(Step.MENU)
    option, menu = await choose(call)
    if option is not None and option.action is Action.STATUS:
        outcome = await tell_status(call)
        await call.say("goodbye")
        await channel.hangup()
        return outcome
    gave_up = option is None and (
        not line.operator_queue or (menu is not None and menu.on_fail is OnFail.GOODBYE))
    if gave_up:
        await call.say("goodbye_retry")
        await channel.hangup()
        return Outcome.GAVE_UP

    incident = line.type(option.target) if option and option.action is Action.TYPE else None
    # The caller ID stands as the callback number only if it passes the rule a typed number does.
    caller_id = callback_caller_id(
        channel.info.get("callerid"),
        channel.info.get("callingpres"),
        min_digits=config.callback_min_digits,
        max_digits=config.callback_max_digits,
    )
    call.report = await call.deps.book.open_report(
        NewReport(
            type_id=incident.id if incident else OPERATOR_TYPE_ID,
            priority=incident.priority if incident else OPERATOR_PRIORITY,
            emergency=bool(incident and incident.emergency),
            language=call.language,
            call_id=call.call_id,
            caller_id_raw=raw_caller_id(channel.info.get("callerid")),
            caller=caller_id,
            callback_minutes=incident.callback_minutes if incident else None,
            municipality=call.line.municipality,
            line=f"{call.line.config.slug} v{call.line.version}",
        )
    )
    await channel.set_variable(variables.REPORT, str(call.report))

    if incident is None or incident.emergency:
        if await _to_operator(call):
            call.complete = True
            return Outcome.OPERATOR
        if on_duty:  # off duty, the caller has just heard that no operator is there
            await call.say("operator_unavailable")

    await callback_number(call, caller_id)
    await _location(call, caller_id)
    if not await _room_to_record(call):
        # An operator takes the message rather than a recording that may not fit.
        # With no operator the caller still records: the threshold is a margin.
        if await _to_operator(call):
            call.complete = True
            return Outcome.OPERATOR
        if line.operator_queue and on_duty:
            await call.say("operator_unavailable")
    kept, failed = await message(call)
    call.complete = kept is not None

    await call.enter(Step.READBACK)
    # Before the readback: a hangup now loses nothing. A report whose recording
    # failed ends "completed" but not complete; its alert event says why.
    await close_call(call, Outcome.COMPLETED)
    if kept:
        await call.say("message_saved")
    elif failed:
        await call.say("record_failed")
    await call.say("report_number_is")
    await call.say_digits(str(number_of(call.report)))
    await call.say("thanks_goodbye")
    await channel.hangup()
    return Outcome.COMPLETED


async def _to_operator(call: Call) -> bool:
    queue = call.line.config.operator_queue
    if not queue or not call.line.config.on_duty(call.deps.clock()):
        return False
    await call.enter(Step.OPERATOR)
    await call.say("connecting_operator")
    outcome = await call.channel.queue(queue, call.deps.config.operator_timeout_s)
    return outcome is QueueOutcome.ANSWERED


async def _location(call: Call, caller_id: str | None) -> None:
    await call.enter(Step.ZONE)
    assert call.report is not None
    deps = call.deps
    known = (await deps.directory.lookup(caller_id, call.line.municipality)
             if caller_id else None)
    if known is not None:
        await deps.book.set_location(call.report, known)
        return
    zones = await _keypad_zones(call)
    for attempt in range(deps.config.menu_tries):
        typed, timed_out = await call.ask_number("zone_enter", max_digits=4)
        if not typed and not timed_out:
            return  # '#' alone: the caller does not know the zone
        if typed in zones:
            await deps.book.set_location(call.report, Location(zone=typed, source="keypad"))
            return
        if attempt + 1 < deps.config.menu_tries:
            await call.say("zone_invalid" if typed else "no_input")


async def _keypad_zones(call: Call) -> Collection[str]:
    """The zones a caller may type: those the line's municipality imported, else (none
    imported, or the store away) the settings' zones."""
    try:
        imported = await call.deps.directory.zones(call.line.municipality)
    except StoreError as exc:
        logger.warning("call %s: zones not read (%s); the settings' zones stand",
                       call.call_id, exc)
        imported = frozenset()
    return imported or call.deps.config.zones


async def _room_to_record(call: Call) -> bool:
    """Is there disk space for the message? When not, the alert has been raised."""
    assert call.report is not None
    disk = call.deps.disk
    return disk is None or await disk.room_to_record(call.report)

"""Flow ``participation``: a citizen files a complaint, suggestion or query for a municipal
area, leaves a message, and hears the case number and the date the municipality will
answer by.

The case exists from the moment the area is picked (``deps.cases.open_case``, kept by the
journal when the database is away); every later step updates its report as soon as it is
captured, so a hang-up anywhere keeps what was said and where the caller was.
"""

from __future__ import annotations

import asyncio
from datetime import date
from zoneinfo import ZoneInfo

from ivr import variables
from ivr.core.call_control import CallControl, CallerHungUp
from ivr.core.ports import CaseBook, Deps, NewReport
from ivr.domain import spoken
from ivr.domain.areas import Area
from ivr.domain.lines import Action, IncidentType
from ivr.domain.municipalities import number_of
from ivr.domain.numbers import callback_caller_id, raw_caller_id
from ivr.flows.common import Call, Outcome, Step, line_for
from ivr.flows.menu import choose, choose_language, digit_prompt
from ivr.flows.steps import callback_number, close_call, message

FALLBACK_AREA = "other"  # where a caller who picks no area is sent, when the line has it
FALLBACK_DAYS = 30  # a kind with no days anywhere (line_check refuses such a line)


async def run(channel: CallControl, deps: Deps) -> Outcome:
    call = Call(channel, deps, await line_for(channel, deps, "participation"))
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


def local_today(call: Call) -> date:
    return call.deps.clock().astimezone(ZoneInfo(call.line.config.timezone)).date()


async def _converse(call: Call) -> Outcome:
    channel, deps, line = call.channel, call.deps, call.line.config
    cases = deps.cases
    if cases is None:
        raise RuntimeError("no case book: participation calls go to the fallback context")
    await channel.answer()
    await call.enter(Step.LANGUAGE)
    await choose_language(call, "part_greeting")
    await channel.set_variable(variables.LANGUAGE, call.language)

    await call.enter(Step.MENU)
    option, _menu = await choose(call)
    kind = line.type(option.target) if option and option.action is Action.TYPE else None
    if kind is None:
        return await _goodbye(call)
    await call.enter(Step.AREA)
    area = await choose_area(call)
    if area is None:
        return await _goodbye(call)

    caller_id = callback_caller_id(
        channel.info.get("callerid"), channel.info.get("callingpres"),
        min_digits=deps.config.callback_min_digits, max_digits=deps.config.callback_max_digits)
    receipt = await cases.open_case(
        NewReport(type_id=kind.id, priority=kind.priority, emergency=False,
                  language=call.language, call_id=call.call_id,
                  caller_id_raw=raw_caller_id(channel.info.get("callerid")), caller=caller_id,
                  municipality=call.line.municipality,
                  line=f"{line.slug} v{call.line.version}"),
        kind=kind.id, area=area.id, business_days=_days(cases, call, kind, area))
    call.report = receipt.report
    await channel.set_variable(variables.REPORT, str(call.report))

    await callback_number(call, caller_id)
    kept, failed = await message(call, "part_record_instructions")
    call.complete = kept is not None

    await call.enter(Step.READBACK)
    await close_call(call, Outcome.COMPLETED)  # a hang-up from here on loses nothing
    if kept:
        await call.say("case_message_saved")
    elif failed:
        await call.say("record_failed")
    await call.say("case_number_is")
    await call.say_digits(str(number_of(call.report)))
    await call.say("case_answer_by", *spoken.day(call.language, receipt.due_on,
                                                  local_today(call)))
    await call.say("case_thanks")
    await channel.hangup()
    return Outcome.COMPLETED


def _days(cases: CaseBook, call: Call, kind: IncidentType, area: Area) -> int:
    return (call.line.config.answer_days(kind.id, area.id) or cases.default_days(kind.id)
            or FALLBACK_DAYS)


async def choose_area(call: Call) -> Area | None:
    """"Para limpieza pública, marque uno; ..." with the kind menu's tries and timeout.
    No key after the last try: the area ``other`` when the line has one, else None."""
    line = call.line.config
    menu = line.menu(line.start_menu)
    prompts = ["part_area_intro"]
    for area in line.areas:
        prompts += [area.announce, "press", digit_prompt(area.key)]
    key = await call.menu(prompts, "".join(a.key for a in line.areas),
                          tries=menu.tries if menu else None,
                          timeout_s=menu.timeout_s if menu else None)
    picked = next((a for a in line.areas if a.key == key), None)
    return picked if picked is not None else line.area(FALLBACK_AREA)


async def _goodbye(call: Call) -> Outcome:
    await call.say("goodbye_retry")
    await call.channel.hangup()
    return Outcome.GAVE_UP

"""Flow ``status``: a caller types a report number and hears where it stands."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from ivr.core.call_control import CallControl, CallerHungUp
from ivr.core.ports import CaseStatus, Deps
from ivr.domain import spoken
from ivr.domain.municipalities import report_id
from ivr.domain.numbers import parse_report_number
from ivr.domain.reports import age_for_speech, caller_status
from ivr.flows.common import Call, Outcome, Step, line_for

REPORT_NUMBER_MAX_DIGITS = 10


async def run(channel: CallControl, deps: Deps) -> Outcome:
    """Entry point for ``agi://…/status`` (the status line's own number)."""
    line = await line_for(channel, deps, "status")
    call = Call(channel, deps, line, language=_language(channel, line.config.languages))
    try:
        await channel.answer()
        outcome = await tell_status(call)
        await call.say("goodbye")
        await channel.hangup()
        return outcome
    except CallerHungUp:
        return Outcome.HUNG_UP


def _language(channel: CallControl, languages: tuple[str, ...]) -> str:
    wanted = channel.args.get("lang") or channel.info.get("language", "")
    return wanted if wanted in languages else languages[0]


async def tell_status(call: Call) -> Outcome:
    """Ask for a report number and say its state; used by ``report``'s menu too."""
    await call.enter(Step.STATUS)
    for attempt in range(call.deps.config.menu_tries):
        typed, _timed_out = await call.ask_number(
            "status_enter", max_digits=REPORT_NUMBER_MAX_DIGITS
        )
        number = parse_report_number(typed, REPORT_NUMBER_MAX_DIGITS)
        # The number is the one this municipality's callers hear: another
        # municipality's reports cannot be named from here.
        wanted = (report_id(call.line.municipality, number)
                  if number is not None and number > 0 else None)
        case = (await call.deps.cases.case_status(wanted)
                if wanted is not None and call.deps.cases is not None else None)
        if case is not None:
            await tell_case(call, case)
            return Outcome.STATUS_GIVEN
        found = await call.deps.book.status(wanted) if wanted is not None else None
        if found is None:
            if attempt + 1 < call.deps.config.menu_tries:
                await call.say("status_not_found" if typed else "no_input")
            continue
        await call.say(f"status_{caller_status(found.state).value}")
        age = age_for_speech((call.deps.clock() - found.changed_at).total_seconds())
        if age is None:
            await call.say("status_long_ago")
        else:
            count, unit = age
            await call.say("last_changed", f"number_{count}", f"unit_{unit}")
        return Outcome.STATUS_GIVEN
    await call.say("status_not_found")
    return Outcome.GAVE_UP


async def tell_case(call: Call, case: CaseStatus) -> None:
    """A citizen's case: in progress and the date it will be answered by (or the date
    that passed), its answer (spoken, or said to have been given), or closed."""
    today = call.deps.clock().astimezone(ZoneInfo(call.line.config.timezone)).date()

    def by(when: date) -> list[str]:
        return spoken.day(call.language, when, today)

    if case.state == "open":
        if case.overdue:
            await call.say("case_overdue", *by(case.due_on))
        else:
            await call.say("case_status_open", "case_answer_by", *by(case.due_on))
    elif case.state == "answered":
        await call.say("case_status_answered")
        if case.answer_audio is not None:
            await call.say("case_answer_follows")
            await call.channel.play(str(case.answer_audio))
        else:
            await call.say("case_answer_by_phone")
    else:
        await call.say("case_status_closed")

"""Flow ``tax``: a taxpayer types their DNI or RUC and their bill's code, and hears what
they owe and by when.

    tax_greeting (then the language menu)
    a blocked number → tax_blocked, goodbye
    up to 3 tries:  tax_enter_id (up to 11 digits, #)
                    not a DNI or RUC → tax_id_invalid          (a try, audited)
                    tax_enter_secret (up to 8 digits, #) → the lookup (audited)
                    no match → tax_not_matched
    after the third failure → tax_refused, goodbye
    unavailable → tax_unavailable, then an operator if one is on duty, else goodbye
    found → tax_total_is <amount> tax_pay_by|tax_overdue_since <date>
    nothing owed → tax_nothing_owed
    then tax_options: 1 hear it again, 0 an operator (tax_options_repeat: no operator)

Nothing about the account but the amount and the date is ever said. Silence where
an ID is asked is a try of the call but no lookup (nothing was typed to look up).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo

from ivr import variables
from ivr.core.call_control import CallControl, CallerHungUp, QueueOutcome
from ivr.core.ports import Deps, TaxAnswer, TaxDesk, TaxQuery
from ivr.domain import spoken
from ivr.domain.numbers import callback_caller_id
from ivr.domain.taxids import RUC_LENGTH, SECRET_DIGITS, parse_tax_id
from ivr.flows.common import Call, Outcome, Step, line_for
from ivr.flows.menu import choose_language

TRIES = 3  # IDs and codes together: the third failure ends the call
MAX_REPEATS = 5


class TaxStep(StrEnum):
    """Where a tax caller is (ALERTA_STEP), besides the shared language and operator."""

    ID = "tax_id"
    SECRET = "tax_secret"
    TOLD = "tax_told"
    OPTIONS = "tax_options"


async def run(channel: CallControl, deps: Deps) -> Outcome:
    """Entry point for ``agi://…/tax`` (or the tax line's number through ``line``)."""
    call = Call(channel, deps, await line_for(channel, deps, "tax"))
    try:
        return await _converse(call)
    except CallerHungUp:
        return Outcome.HUNG_UP


async def _at(call: Call, step: TaxStep) -> None:
    await call.channel.mark_step(step.value)


async def _converse(call: Call) -> Outcome:
    channel = call.channel
    await channel.answer()
    await call.enter(Step.LANGUAGE)
    await choose_language(call, "tax_greeting")
    await channel.set_variable(variables.LANGUAGE, call.language)
    desk = call.deps.tax
    if desk is None:  # no tax system configured for this controller
        return await _unavailable(call)
    caller = callback_caller_id(channel.info.get("callerid"), channel.info.get("callingpres"),
                                min_digits=call.deps.config.callback_min_digits,
                                max_digits=call.deps.config.callback_max_digits)
    if await desk.blocked(call.line.municipality, caller):
        return await _end(call, "tax_blocked", Outcome.GAVE_UP)
    for attempt in range(TRIES):
        last = attempt + 1 == TRIES
        answer = await _try(call, desk, caller)
        if answer is None:  # silence: asked again
            if not last:
                await call.say("no_input")
            continue
        if answer.result in ("found", "nothing_owed"):
            return await _tell(call, answer)
        if answer.result == "blocked":
            return await _end(call, "tax_blocked", Outcome.GAVE_UP)
        if answer.result == "unavailable":
            return await _unavailable(call)
        if not last:
            await call.say("tax_id_invalid" if answer.result == "invalid_id"
                           else "tax_not_matched")
    return await _end(call, "tax_refused", Outcome.GAVE_UP)


async def _try(call: Call, desk: TaxDesk, caller: str | None) -> TaxAnswer | None:
    """One ID and code, looked up; None when nothing was typed."""
    await _at(call, TaxStep.ID)
    typed, _ = await call.ask_number("tax_enter_id", max_digits=RUC_LENGTH)
    if not typed:
        return None
    tax_id = parse_tax_id(typed)
    secret = ""
    if tax_id is not None:
        await _at(call, TaxStep.SECRET)
        secret, _ = await call.ask_number("tax_enter_secret", max_digits=SECRET_DIGITS.stop - 1)
    return await desk.lookup(TaxQuery(
        municipality=call.line.municipality, caller=caller, call_id=call.call_id,
        line=f"{call.line.config.slug} v{call.line.version}",
        tax_id=tax_id.number if tax_id else None, secret=secret, today=_today(call)))


def _today(call: Call) -> date:
    return call.deps.clock().astimezone(ZoneInfo(call.line.config.timezone)).date()


def said(language: str, answer: TaxAnswer, today: date) -> list[str]:
    """What an answer sounds like, as prompt ids: amounts and dates only."""
    if answer.result != "found" or answer.due_on is None:
        return ["tax_nothing_owed"]
    return ["tax_total_is", *spoken.money(language, answer.owed_cents),
            "tax_overdue_since" if answer.overdue else "tax_pay_by",
            *spoken.day(language, answer.due_on, today)]


async def _tell(call: Call, answer: TaxAnswer) -> Outcome:
    words = said(call.language, answer, _today(call))
    for _ in range(MAX_REPEATS):
        await _at(call, TaxStep.TOLD)
        await call.say(*words)
        await _at(call, TaxStep.OPTIONS)
        operator = _operator_on_duty(call)
        key = await call.menu(["tax_options" if operator else "tax_options_repeat"],
                              "10" if operator else "1")
        if key == "0":
            return await _to_operator(call) or await _end(call, None, Outcome.STATUS_GIVEN)
        if key != "1":
            break
    return await _end(call, None, Outcome.STATUS_GIVEN)


async def _unavailable(call: Call) -> Outcome:
    await call.say("tax_unavailable")
    if _operator_on_duty(call):
        return await _to_operator(call) or await _end(call, None, Outcome.GAVE_UP)
    return await _end(call, None, Outcome.GAVE_UP)


def _operator_on_duty(call: Call) -> bool:
    config = call.line.config
    return bool(config.operator_queue) and config.on_duty(call.deps.clock())


async def _to_operator(call: Call) -> Outcome | None:
    """Outcome.OPERATOR once an operator took the call; None when none did."""
    queue = call.line.config.operator_queue
    assert queue is not None
    await call.enter(Step.OPERATOR)
    await call.say("connecting_operator")
    if await call.channel.queue(queue, call.deps.config.operator_timeout_s) is (
            QueueOutcome.ANSWERED):
        return Outcome.OPERATOR
    return None


async def _end(call: Call, prompt: str | None, outcome: Outcome) -> Outcome:
    if prompt:
        await call.say(prompt)
    await call.say("goodbye")
    await call.channel.hangup()
    return outcome

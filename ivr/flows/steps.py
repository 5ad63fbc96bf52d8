"""Steps the report and participation flows share: the callback number (caller ID
confirmed or typed), the message (recorded, listened to, recorded again once) and the
call's end written to the report, whatever was captured by then."""

from __future__ import annotations

import logging

from ivr.core.call_control import CallerHungUp, RecordEnd, RecordingFailed
from ivr.domain.clips import ClipInfo, ClipInvalid
from ivr.domain.numbers import valid_phone
from ivr.flows.common import Call, Outcome, Step

logger = logging.getLogger(__name__)

MAX_LISTENS = 3


async def close_call(call: Call, outcome: Outcome) -> None:
    """Record how the call ended; the report keeps whatever was captured."""
    if call.report is None or call.closed:
        return
    call.closed = True
    try:
        await call.deps.book.close_call(
            call.report,
            complete=call.complete,
            outcome=outcome.value,
            last_step=call.step.value if call.step else None,
        )
    except Exception:
        logger.exception("report %s: could not record the end of the call", call.report)


async def callback_number(call: Call, caller_id: str | None) -> None:
    await call.enter(Step.CALLBACK)
    config, book = call.deps.config, call.deps.book
    assert call.report is not None
    if caller_id is not None:
        digits = [f"digit_{d}" for d in caller_id]
        key = await call.menu(["callback_is", *digits, "callback_confirm"], "12")
        if key != "2":  # confirmed, or no answer: the caller ID is the best we have
            await book.set_callback(call.report, caller_id, "callerid")
            return
    for attempt in range(config.menu_tries):
        typed, _ = await call.ask_number("callback_enter", max_digits=config.callback_max_digits)
        if valid_phone(typed, config.callback_min_digits, config.callback_max_digits):
            await book.set_callback(call.report, typed, "typed")
            return
        if attempt + 1 < config.menu_tries:
            await call.say("callback_invalid" if typed else "no_input")
    if caller_id is None:
        await book.set_callback(call.report, None, "none")


async def message(call: Call, instructions: str = "record_instructions"
                  ) -> tuple[ClipInfo | None, bool]:
    """Record the message; the caller may listen and record again once.

    Returns the take kept, if any, and whether Asterisk failed to write a take.
    A failed write (a full disk) is not retried: the caller hears the report
    number instead of a second failure.
    """
    kept: ClipInfo | None = None
    take = 0
    while take < 2:
        take += 1
        try:
            clip = await record_take(call, take, instructions)
        except RecordingFailed as exc:
            await recording_failed(call, take, str(exc))
            return kept, True
        if clip is None or clip.seconds * 1000 < call.deps.config.record_min_ms:
            if take == 1:
                await call.say("record_empty")
                continue
            break
        kept = clip
        if take == 2 or await review(call, clip) != "2":
            break
    return kept, False


async def recording_failed(call: Call, take: int, detail: str) -> None:
    assert call.report is not None
    logger.error("report %s take %d: the recording failed: %s", call.report, take, detail)
    disk = call.deps.disk
    if disk is not None:
        await disk.recording_failed(call.report, take, detail)


async def record_take(call: Call, take: int,
                      instructions: str = "record_instructions") -> ClipInfo | None:
    deps = call.deps
    assert call.report is not None
    await call.enter(Step.RECORD)
    await call.say(instructions)
    await call.say("beep")
    target = deps.clips.incoming_path(call.call_id, call.report, take)
    result = await call.channel.record(
        str(target),
        max_s=deps.config.record_max_s,
        silence_s=deps.config.record_silence_s,
        beep=False,
    )
    hung_up = result.ended_by is RecordEnd.HANGUP
    try:
        clip = await deps.clips.keep(target, partial=hung_up)
    except ClipInvalid as exc:
        logger.warning("report %s take %d: recording quarantined: %s", call.report, take, exc)
        clip = None
    if clip is not None:
        await deps.book.attach_clip(call.report, take, clip)
    if hung_up:
        raise CallerHungUp("caller hung up while recording")
    return clip


async def review(call: Call, clip: ClipInfo) -> str | None:
    await call.enter(Step.REVIEW)
    for _ in range(MAX_LISTENS):
        key = await call.menu(["review_menu"], "123", tries=2)
        if key != "3":
            return key
        await call.channel.play(str(call.deps.clips.playback_path(clip)))
    return "1"

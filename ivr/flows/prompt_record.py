"""Flow ``prompt_record``: an admin records a prompt on their own phone.

The console rang the admin through AMI (``ivr.core.phone_prompts``); the recording
context hands the answered call here with the recording's token as its extension.
The admin hears what to do, the prompt's text, a tone; records (# ends); hears the
take back; 1 keeps it (it becomes the draft's audio), 2 records again, 3 listens
again. Three takes at most; a hang-up before keeping keeps nothing, and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ivr.core.call_control import CallControl, CallerHungUp, RecordEnd, RecordingFailed
from ivr.core.ports import Deps
from ivr.flows.common import Outcome
from ivr.promptaudio.library import PromptAudioRefused

logger = logging.getLogger(__name__)

MAX_TAKES = 3
TAKE_MAX_S = 60
TAKE_SILENCE_S = 4
CHOICE_WAIT_S = 6.0
LANGUAGE = "es"  # the admin's side is in the console's first language


async def run(channel: CallControl, deps: Deps) -> Outcome:
    recorder = deps.recordings
    token = "".join(c for c in channel.info.get("extension", "") if c.isdigit())
    rec = await recorder.answered(token) if recorder is not None and token else None
    if recorder is None or rec is None:
        logger.warning("prompt recording %s: unknown or already over", token or "(none)")
        await channel.hangup()
        return Outcome.GAVE_UP
    shipped = f"{deps.config.prompts}/{LANGUAGE}"
    try:
        await channel.answer()
        await channel.mark_step("record")
        await channel.play(f"{shipped}/phone_record_intro")
        for take in range(1, MAX_TAKES + 1):
            await channel.play([recorder.cue_path(rec), f"{shipped}/beep"])
            path = recorder.take_path(rec, take)
            try:
                result = await channel.record(str(path), max_s=TAKE_MAX_S,
                                              silence_s=TAKE_SILENCE_S, beep=False)
            except RecordingFailed as exc:
                await recorder.abandon(rec, f"Asterisk could not write take {take}: {exc}")
                await channel.hangup()
                return Outcome.ERROR
            await recorder.took(rec, take)
            if result.ended_by is RecordEnd.HANGUP:
                raise CallerHungUp("hung up while recording")
            choice = await _review(channel, shipped, path)
            if choice == "1":
                try:
                    await recorder.keep(rec, Path(f"{path}.wav"))
                except PromptAudioRefused as exc:
                    logger.info("prompt recording %s take %d refused: %s", rec.token, take, exc)
                    await channel.play(f"{shipped}/record_empty")
                    continue
                await channel.play(f"{shipped}/phone_record_kept")
                await channel.hangup()
                return Outcome.COMPLETED
        await recorder.abandon(rec, f"no take kept after {MAX_TAKES}")
        await channel.play(f"{shipped}/goodbye")
        await channel.hangup()
        return Outcome.GAVE_UP
    except CallerHungUp:
        await recorder.abandon(rec, "the admin hung up before keeping a take")
        return Outcome.HUNG_UP


async def _review(channel: CallControl, shipped: str, path: Path) -> str | None:
    """Play the take, then 1 keep / 2 again / 3 listen (a key during the take counts);
    four silences or wrong keys count as 2."""
    key = await channel.play(str(path), keys="123")
    for _ in range(4):
        if key is None:
            digits, _ = await channel.read_digits(f"{shipped}/review_menu", max_digits=1,
                                                  timeout_s=CHOICE_WAIT_S)
            key = digits or None
        if key in ("1", "2"):
            return key
        key = await channel.play(str(path), keys="123") if key == "3" else None
    return "2"

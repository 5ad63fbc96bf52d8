"""Record a prompt by phone: the console rings the admin's own extension through AMI, the
admin hears the prompt's text, records it after the tone, listens, keeps it or records
again; the kept take becomes the draft's audio for that prompt and language.

Two processes share the work through the recording's row: the console starts it
(``start``) and shows how it goes (``status``); the controller's ``prompt_record`` flow
answers the call and moves it on (``answered``, ``took``, ``keep``, ``abandon``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.core.lines import LineAdmin
from ivr.core.ports import PhoneRinger, Recording
from ivr.core.records import FINAL_RECORDING_STATES as FINAL
from ivr.core.records import TelephonyUnavailable
from ivr.core.repositories import RecordingRepository
from ivr.promptaudio.convert import convert
from ivr.promptaudio.library import PromptAudioRefused
from ivr.promptaudio.tts import SpeechUnavailable, speak

logger = logging.getLogger(__name__)

TOKEN_DIGITS = 12
ANSWER_MARGIN_S = 15  # past the ring time, an unanswered recording is given up


class PhoneRecorder:
    def __init__(self, admin: LineAdmin, store: RecordingRepository, *, incoming: Path,
                 ringer: PhoneRinger | None = None, ring_s: int = 30,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.admin = admin
        self.store = store
        self.incoming = incoming  # where Asterisk records the takes (no extension added)
        self.ringer = ringer  # rings phones (the AMI link); None where none is configured
        self.ring_s = ring_s
        self.clock = clock

    # --- the console's side ------------------------------------------------------------

    async def start(self, line_id: int, prompt_id: str, language: str, *, endpoint: str,
                    actor: str) -> Recording:
        """Speak the text for the cue, keep the row, ring ``endpoint``. What stops it before
        a ring is a ``PromptAudioRefused`` (no text, no voice, no AMI link, a bad phone);
        what Asterisk refuses is the recording's ``failed`` state, with the reason."""
        config = await self.admin.draft(line_id)
        if language not in config.languages:
            raise PromptAudioRefused(f"the line does not speak {language!r}")
        entry = config.prompts.get(prompt_id, {}).get(language)
        if entry is None or not entry.text:
            raise PromptAudioRefused(f"{prompt_id} ({language}) has no text to read from yet")
        if self.ringer is None:
            raise PromptAudioRefused("the AMI link is not configured: no phone can be rung")
        try:
            cue = await asyncio.to_thread(speak, entry.text, language)
        except SpeechUnavailable as exc:
            raise PromptAudioRefused(str(exc)) from None
        cue_sha = await self.admin.add_audio(cue.wav, source="spoken", actor=actor)
        token = f"{secrets.randbelow(9 * 10 ** (TOKEN_DIGITS - 1)) + 10 ** (TOKEN_DIGITS - 1)}"
        now = self.clock().astimezone(UTC).isoformat(timespec="milliseconds")
        await self.store.create(Recording(token, line_id, prompt_id, language, cue_sha, actor,
                                          endpoint, "ringing", 0, None, "", now, now))
        try:
            refused = await self.ringer.ring(endpoint, token)
        except ValueError as exc:  # not a phone that can be rung
            await self._failed(token, f"not sent: {exc}")
            raise PromptAudioRefused(f"that phone cannot be rung: {exc}") from None
        except TelephonyUnavailable as exc:
            return await self._failed(token, f"not sent: {exc}")
        if refused:
            return await self._failed(token, refused)
        found = await self.store.get(token)
        assert found is not None
        return found

    async def status(self, token: str) -> Recording | None:
        rec = await self.store.get(token)
        if rec is None or rec.state != "ringing":
            return rec
        waited = self.clock() - datetime.fromisoformat(rec.requested_at)
        if waited > timedelta(seconds=self.ring_s + ANSWER_MARGIN_S):
            return await self._failed(token, "the phone was not answered")
        return rec

    async def _failed(self, token: str, detail: str) -> Recording:
        logger.warning("prompt recording %s: %s", token, detail)
        rec = await self.store.update(token, "failed", detail=detail)
        assert rec is not None
        return rec

    # --- the controller's side (the prompt_record flow) ----------------------------------

    async def answered(self, token: str) -> Recording | None:
        """The admin picked up: the recording, unless it is unknown or over."""
        rec = await self.store.get(token)
        if rec is None or rec.state in FINAL:
            return None
        return await self.store.update(token, "recording", detail="answered")

    def cue_path(self, rec: Recording) -> str:
        """The text spoken, as Asterisk plays it (no extension)."""
        return str(self.admin.library.path(rec.cue_audio).with_suffix(""))

    def take_path(self, rec: Recording, take: int) -> Path:
        self.incoming.mkdir(parents=True, exist_ok=True)
        return self.incoming / f"prompt-{rec.token}-{take}"

    async def took(self, rec: Recording, take: int) -> None:
        await self.store.update(rec.token, "recording", detail=f"take {take}", take=True)

    async def keep(self, rec: Recording, recorded: Path) -> str:
        """Make the take the draft's audio; ``PromptAudioRefused`` when it cannot be one."""
        data = await asyncio.to_thread(recorded.read_bytes)
        sound = await asyncio.to_thread(convert, data, f"take {recorded.name}")
        sha = await self.admin.add_audio(sound.wav, source="phone", actor=rec.requested_by)
        await self.admin.set_prompt_audio(rec.line_id, rec.prompt_id, rec.language, sha,
                                          source="phone", actor=rec.requested_by)
        await self.store.update(rec.token, "kept", kept_audio=sha,
                                detail=f"{sound.seconds:.1f} s kept")
        return sha

    async def abandon(self, rec: Recording, detail: str) -> None:
        await self.store.update(rec.token, "abandoned", detail=detail)

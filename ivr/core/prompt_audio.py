"""Use cases: give a prompt of a line's draft its audio, from an upload or from its text.

Both end the same way: canonical audio kept in the library by content, the draft's
prompt pointing at it, the change audited. Refusals are ``PromptAudioRefused`` with a
reason an admin can act on (a missing program included).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ivr.core.lines import LineAdmin
from ivr.domain.line_check import required_prompts
from ivr.promptaudio.convert import MAX_UPLOAD_BYTES, convert
from ivr.promptaudio.library import PromptAudioRefused
from ivr.promptaudio.tts import SpeechUnavailable, speak

__all__ = ["MAX_UPLOAD_BYTES", "PromptAudio", "PromptAudioRefused", "Spoken"]


@dataclass(frozen=True, slots=True)
class Spoken:
    done: list[str]  # prompt ids now with audio
    failed: list[str]  # "prompt: reason"


class PromptAudio:
    def __init__(self, admin: LineAdmin) -> None:
        self.admin = admin

    async def upload(self, line_id: int, prompt: str, language: str, data: bytes,
                     filename: str, *, actor: str) -> tuple[str, float]:
        """Any common audio file; returns (audio id, seconds)."""
        sound = await asyncio.to_thread(convert, data, filename)
        sha = await self.admin.add_audio(sound.wav, source="upload", actor=actor)
        await self.admin.set_prompt_audio(line_id, prompt, language, sha, source="upload",
                                          actor=actor)
        return sha, sound.seconds

    async def speak(self, line_id: int, prompt: str, language: str, *, text: str = "",
                    actor: str) -> str:
        """The prompt's text (or ``text``, which then becomes its text) read aloud."""
        if not text:
            current = (await self.admin.draft(line_id)).prompts.get(prompt, {}).get(language)
            text = current.text if current else ""
        sound = await _spoken(text, language)
        sha = await self.admin.add_audio(sound, source="spoken", actor=actor)
        if text:
            await self.admin.set_prompt_text(line_id, prompt, language, text, actor=actor)
        await self.admin.set_prompt_audio(line_id, prompt, language, sha, source="spoken",
                                          actor=actor)
        return sha

    async def speak_missing(self, line_id: int, language: str, *, actor: str) -> Spoken:
        """Every prompt the line needs that has text and no audio in ``language``, spoken:
        how a new language is voiced in one step once its texts are written."""
        config = await self.admin.draft(line_id)
        if language not in config.languages:
            raise PromptAudioRefused(f"the line does not speak {language[:10]!r}")
        done, failed = [], []
        for prompt in sorted(required_prompts(config)):
            entry = config.prompts.get(prompt, {}).get(language)
            if entry is None or entry.audio or not entry.text:
                continue
            try:
                sound = await _spoken(entry.text, language)
            except PromptAudioRefused as exc:
                failed.append(f"{prompt}: {exc}")
                continue
            sha = await self.admin.add_audio(sound, source="spoken", actor=actor)
            await self.admin.set_prompt_audio(line_id, prompt, language, sha, source="spoken",
                                              actor=actor)
            done.append(prompt)
        return Spoken(done, failed)


async def _spoken(text: str, language: str) -> bytes:
    try:
        return (await asyncio.to_thread(speak, text, language)).wav
    except SpeechUnavailable as exc:
        raise PromptAudioRefused(str(exc)) from None

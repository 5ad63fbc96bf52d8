"""An officer's written answer to a citizen's case, spoken with espeak-ng into a WAV the
status line plays (``ivr.core.participation`` calls it as its speaker).

The file goes under the clips folder (``answers/<report>-<random>.wav``), written aside,
fsynced and renamed, so a caller never hears half an answer. A long answer is spoken in
pieces of whole sentences (espeak's prompts are short) and joined. No speech engine on
this machine: None, and the caller is told the answer is given by phone.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import secrets
from pathlib import Path

from ivr.promptaudio import tts
from ivr.promptaudio.library import PromptAudioRefused

logger = logging.getLogger(__name__)

PIECE = 400  # characters spoken at a time (tts.MAX_TEXT is the most it takes)
FOLDER = "answers"


def pieces(text: str, size: int = PIECE) -> list[str]:
    """``text`` cut at sentence ends (else at spaces) into pieces of at most ``size``."""
    words = " ".join(text.split())
    out: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?;:])\s+", words):
        while len(sentence) > size:  # a sentence too long on its own: at a space
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return [p for p in out if p]


def speak_answer(text: str, language: str) -> bytes:
    """The answer as one 8 kHz WAV; blocking. Raises SpeechUnavailable, PromptAudioRefused."""
    from pydub import AudioSegment

    joined = AudioSegment.empty()
    for piece in pieces(text):
        joined += AudioSegment.from_wav(io.BytesIO(tts.speak(piece, language).wav))
    out = io.BytesIO()
    joined.export(out, format="wav")
    return out.getvalue()


class AnswerVoice:
    """``Speaker``: (text, language, report) → the WAV's path under ``root``, or None."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, text: str, language: str, report: int) -> str | None:
        if not tts.engines():
            return None
        try:
            wav = await asyncio.to_thread(speak_answer, text, language)
            return await asyncio.to_thread(self._keep, wav, report)
        except (tts.SpeechUnavailable, PromptAudioRefused, OSError) as exc:
            logger.warning("case %d: the answer could not be spoken (%s); callers are told "
                           "it is given by phone", report, exc)
            return None

    def _keep(self, wav: bytes, report: int) -> str:
        folder = self.root / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{report}-{secrets.token_hex(4)}.wav"
        aside = folder / f".{name}.tmp"
        with open(aside, "wb") as f:
            f.write(wav)
            f.flush()
            os.fsync(f.fileno())
        os.replace(aside, folder / name)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return f"{FOLDER}/{name}"

"""A prompt spoken from its text at edit time, with espeak-ng and sox as the shipped
prompts were made (scripts/make_prompts.py), then trimmed and levelled as uploads are.

espeak-ng has voices for Spanish (Latin America), English, Quechua, Guarani and about
a hundred more languages; a language it lacks is refused with the voices it has.
Blocking: callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from typing import Any

from ivr.promptaudio.convert import PromptSound, tidy
from ivr.promptaudio.library import RATE, PromptAudioRefused

ENGINE = "espeak-ng"
MAX_TEXT = 500
TIMEOUT_S = 30.0
# The variant callers here know best, where a language has several.
PREFERRED = {"es": "es-419", "en": "en-us", "pt": "pt-br"}


class SpeechUnavailable(RuntimeError):
    """No speech engine is installed on this machine."""


def engines() -> list[str]:
    return [ENGINE] if shutil.which(ENGINE) and shutil.which("sox") else []


@functools.cache
def voices() -> frozenset[str]:
    if not engines():
        return frozenset()
    listing = subprocess.run([ENGINE, "--voices"], capture_output=True, text=True,
                             timeout=TIMEOUT_S, check=False).stdout
    return frozenset(line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1)


def voice_for(language: str) -> str:
    """The espeak-ng voice for a line language such as ``es``, ``en``, ``qu`` or ``es-PE``."""
    known = voices()
    base = language.split("-")[0].lower()
    for candidate in (PREFERRED.get(language.lower()), language.lower(), PREFERRED.get(base),
                      base):
        if candidate and candidate in known:
            return candidate
    raise PromptAudioRefused(f"no voice for {language!r} on this machine; upload or record "
                             "the prompt instead")


def speak(text: str, language: str, *, speed: int = 150) -> PromptSound:
    """``text`` read aloud in ``language``, as canonical prompt audio."""
    text = " ".join(text.split())
    if not text:
        raise PromptAudioRefused("there is no text to speak")
    if len(text) > MAX_TEXT:
        raise PromptAudioRefused(f"the text is longer than {MAX_TEXT} characters")
    if not engines():
        raise SpeechUnavailable(f"{ENGINE} and sox are needed to speak prompts from their text")
    voice = voice_for(language)
    # The text goes in on stdin as UTF-8 (-b 1): never a command-line word.
    spoken = subprocess.run([ENGINE, "-b", "1", "-v", voice, "-s", str(max(80, min(speed, 260))),
                             "--stdout"], input=text.encode(), capture_output=True,
                            timeout=TIMEOUT_S, check=False)
    if spoken.returncode != 0 or not spoken.stdout:
        detail = spoken.stderr.decode("utf-8", "replace").strip()[:200]
        raise PromptAudioRefused(f"{ENGINE} could not speak the text ({detail or 'no audio'})")
    shaped = subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16",
                             "-e", "signed-integer", "-t", "wav", "-"], input=spoken.stdout,
                            capture_output=True, timeout=TIMEOUT_S, check=False)
    if shaped.returncode != 0:
        raise PromptAudioRefused("sox could not shape the speech: "
                                 + shaped.stderr.decode("utf-8", "replace").strip()[:200])
    return tidy(_segment(shaped.stdout), f"the {language} text")


def _segment(wav: bytes) -> Any:
    from pydub import AudioSegment

    return AudioSegment.from_wav(io.BytesIO(_fix_length(wav)))


def _fix_length(wav: bytes) -> bytes:
    """sox writing to a pipe cannot seek back to fill in the sizes; set them here."""
    if len(wav) < 44 or wav[:4] != b"RIFF":
        raise PromptAudioRefused("sox wrote no WAV")
    at = 12
    while at + 8 <= len(wav):
        size = int.from_bytes(wav[at + 4:at + 8], "little")
        if wav[at:at + 4] == b"data":
            data = len(wav) - at - 8
            return (wav[:4] + (len(wav) - 8).to_bytes(4, "little") + wav[8:at + 4]
                    + data.to_bytes(4, "little") + wav[at + 8:])
        at += 8 + size + (size & 1)
    raise PromptAudioRefused("sox wrote a WAV without audio")

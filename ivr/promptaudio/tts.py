"""A prompt spoken from its text at edit time, with espeak-ng (the voice the shipped
prompts were made with, scripts/make_prompts.py), then made canonical by ``convert``.

espeak-ng has voices for Spanish (Latin America), English, Quechua, Guarani and about
a hundred more languages; a language it lacks is refused with the voices it has.
Blocking: callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

from ivr.promptaudio.convert import PromptSound, convert
from ivr.promptaudio.library import PromptAudioRefused

ENGINE = "espeak-ng"
MAX_TEXT = 500
TIMEOUT_S = 30.0
# The variant callers here know best, where a language has several.
PREFERRED = {"es": "es-419", "en": "en-us", "pt": "pt-br"}


class SpeechUnavailable(RuntimeError):
    """No speech engine is installed on this machine."""


def engines() -> list[str]:
    return [ENGINE] if shutil.which(ENGINE) else []


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
        raise SpeechUnavailable(f"{ENGINE} is not installed; it speaks prompts from their text")
    voice = voice_for(language)
    # The text is one argument, never a shell word; "--" ends the options before it.
    done = subprocess.run([ENGINE, "-v", voice, "-s", str(max(80, min(speed, 260))), "--stdout",
                           "--", text], capture_output=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode("utf-8", "replace").strip()[:200]
        raise PromptAudioRefused(f"{ENGINE} could not speak the text ({detail or 'no audio'})")
    return convert(done.stdout, f"the {language} text")

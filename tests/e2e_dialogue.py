"""Citizen calls whose keys a test chooses, for SIPp against a real Asterisk.

``dialogue(folder, name, steps)`` copies tests/sipp/dialogue_caller.xml and fills its
DIALOGUE mark: for each step a pause as long as the prompts the flow plays before
that input (measured on prompts/<lang>/*.wav) plus 0.6 s, then an RTP capture of the
keys (RFC 4733) or of the spoken message (tests/sipp/audio/message.wav). The
captures are written with tests/sipp/make_pcaps.py, one ascending slot per step, so
Asterisk takes every key even when the same key is pressed twice.
"""

from __future__ import annotations

import functools
import importlib.util
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ivr.domain.incidents import DEFAULT_INCIDENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
SIPP_DIR = ROOT / "tests" / "sipp"
FRAME = SIPP_DIR / "dialogue_caller.xml"
MARK = "<!-- DIALOGUE:"
LEAD_S = 0.6  # the caller answers this long after the prompts end
ANSWER_S = 1.0  # Answer() and Wait(0.5) in [alerta-in] before the first prompt
KEY_GAP_S = 0.3


@dataclass(frozen=True)
class Step:
    prompts: tuple[str, ...]  # what the flow plays before this input
    keys: str = ""  # what the caller presses
    speak: bool = False  # the caller speaks the message instead
    language: str = ""  # prompts from this step on are in this language
    wait_s: float = 0.0  # more to wait, for audio that is not a shipped prompt


@functools.cache
def _pcaps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_pcaps", SIPP_DIR / "make_pcaps.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The language menu: each language offered in its own voice ("lang:id" names the voice).
LANGUAGE_MENU = ("greeting", "es:language_option", "es:digit_1", "en:language_option",
                 "en:digit_2")


@functools.cache
def prompt_s(language: str, prompt_id: str) -> float:
    if ":" in prompt_id:
        language, prompt_id = prompt_id.split(":", 1)
    with wave.open(str(ROOT / "prompts" / language / f"{prompt_id}.wav"), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def message_ulaw() -> bytes:
    """The G.711 mu-law samples of message.wav (a WAV of format 7, which `wave` cannot read)."""
    data = (SIPP_DIR / "audio" / "message.wav").read_bytes()
    at = 12
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4:at + 8], "little")
        if data[at:at + 4] == b"data":
            return data[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    raise AssertionError("message.wav has no data chunk")


def menu_until(key: str) -> tuple[str, ...]:
    """The main menu's prompts up to the one that names ``key`` (0 and 9 come last)."""
    prompts = ["menu_intro"]
    for incident in DEFAULT_INCIDENT_TYPES:
        prompts += [f"type_{incident.id}", "press", f"digit_{incident.key}"]
        if incident.key == key:
            return tuple(prompts)
    prompts += ["option_status", "press", "digit_9"]
    if key == "9":
        return tuple(prompts)
    return (*prompts, "option_operator", "press", "digit_0")


def read_back(number: str) -> tuple[str, ...]:
    """The callback number read back for confirmation."""
    return ("callback_is", *(f"digit_{d}" for d in number), "callback_confirm")


def dialogue(folder: Path, name: str, steps: Sequence[Step], *, language: str = "es",
             listen_s: float = 20.0, frame: Path = FRAME) -> Path:
    """Write the scenario and its captures; returns the scenario file. ``frame`` is the
    caller's scenario (dialogue_caller.xml) or a phone's (answering_dialogue.xml)."""
    pcaps = _pcaps()
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[str] = []
    for slot, step in enumerate(steps, start=1):
        wait = sum(prompt_s(language, p) for p in step.prompts) + LEAD_S + step.wait_s
        if slot == 1:
            wait += ANSWER_S
        language = step.language or language
        capture = folder / f"{name}-{slot:02d}.pcap"
        if step.speak:
            samples = message_ulaw()
            pcaps.write_pcap(capture, pcaps.audio(slot, samples))
            length = len(samples) / 8000
        else:
            pcaps.write_pcap(capture, pcaps.keys(slot, step.keys))
            length = len(step.keys) * KEY_GAP_S
        what = "speaks the message" if step.speak else f"presses {step.keys}"
        parts.append(
            f"  <!-- step {slot}: after {', '.join(step.prompts) or 'nothing'}, {what} -->\n"
            f'  <pause milliseconds="{round(wait * 1000)}" />\n'
            f'  <nop><action><exec play_pcap_audio="{capture}" /></action></nop>\n'
            f'  <pause milliseconds="{round(length * 1000) + 300}" />\n\n'
        )
    frame_text = frame.read_text(encoding="utf-8")
    assert frame_text.count(MARK) == 1 and 'timeout="20000"' in frame_text
    frame_text = frame_text.replace(MARK, "".join(parts) + "  " + MARK, 1)
    frame_text = frame_text.replace('timeout="20000"', f'timeout="{round(listen_s * 1000)}"', 1)
    scenario = folder / f"{name}.xml"
    scenario.write_text(frame_text, encoding="utf-8")
    return scenario

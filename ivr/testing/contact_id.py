"""An old alarm panel's dialler, as audio: Contact ID messages sent as DTMF tones.

    message("1234", "1", "122", zone="001")   # '1234181122010015': the checksum filled in
    dialler_ulaw([first, second], lead_s=2.6) # G.711 mu-law, 8 kHz: what the panel sends
    tone_spans(pcm, 1400.0)                   # where a tone is, in a recording (Goertzel)

A Contact ID message is 16 DTMF digits ``AAAA MT Q EEE GG ZZZ S``: account, message
type (18 or 98), qualifier (1 new event, 3 restore, 6 still present), event code,
group, zone or user, and a checksum digit that makes the digits' values (0 counted as
10) add up to a multiple of 15. Digit values above 10 are sent as the DTMF keys
``* # A B C`` (11 to 15), as Asterisk's AlarmReceiver counts them.

The dialler waits for the receiver's handshake, sends a message as tones of about 55 ms
with 55 ms between them, waits for the kissoff (1400 Hz, 900 ms), then sends the next.
A fixed recording cannot listen, so ``dialler_ulaw`` starts with silence as long as the
answer and the handshake take, and leaves room for each kissoff.

Pure Python (no numpy), for the tests that play it to a real Asterisk through SIPp.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

RATE = 8000
DTMF = {  # key: (row Hz, column Hz)
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}
# value of each key in the checksum (AlarmReceiver's table); 0 counts as 10
VALUES = {**{str(d): d for d in range(1, 10)}, "0": 10, "*": 11, "#": 12, "A": 13, "B": 14,
          "C": 15}
KEY_OF_VALUE = {v: k for k, v in VALUES.items()}
TONE_MS = 55
GAP_MS = 55
LEVEL = 0.28  # of full scale, each of the two tones: about -8 dBm0, a panel's usual level


def checksum_key(body: str) -> str:
    """The 16th key for 15 keys of a message: the one that brings the sum to a multiple
    of 15 (a sum already there takes 15, sent as 'C')."""
    total = sum(VALUES[k] for k in body)
    return KEY_OF_VALUE[(15 - total % 15) or 15]


def message(account: str, qualifier: str, event: str, *, group: str = "01",
            zone: str = "001", message_type: str = "18") -> str:
    """A whole Contact ID message, its checksum key included."""
    body = f"{account}{message_type}{qualifier}{event}{group}{zone}"
    if len(body) != 15 or any(k not in VALUES for k in body):
        raise ValueError(f"not 15 DTMF keys: {body!r}")
    return body + checksum_key(body)


def spoiled(digits: str) -> str:
    """The same message with a wrong checksum key (the sum then misses by one)."""
    wrong = VALUES[digits[-1]] % 15 + 1
    return digits[:-1] + KEY_OF_VALUE[wrong]


def _tone(key: str, ms: int) -> list[float]:
    low, high = DTMF[key]
    count = RATE * ms // 1000
    return [LEVEL * (math.sin(2 * math.pi * low * n / RATE)
                     + math.sin(2 * math.pi * high * n / RATE)) for n in range(count)]


def keys_audio(digits: str, tone_ms: int = TONE_MS, gap_ms: int = GAP_MS) -> list[float]:
    """The keys as tones, each followed by a gap; samples in -1..1."""
    out: list[float] = []
    for key in digits:
        out += _tone(key, tone_ms)
        out += [0.0] * (RATE * gap_ms // 1000)
    return out


def dialler_ulaw(messages: Sequence[str], *, lead_s: float, between_s: float = 1.8,
                 tail_s: float = 1.0, tone_ms: int = TONE_MS, gap_ms: int = GAP_MS) -> bytes:
    """What a dialler sends from the answer on: ``lead_s`` of silence (the receiver's wait
    and handshake), each message, ``between_s`` of silence after each (the kissoff and the
    dialler's pause), and ``tail_s`` more before it hangs up."""
    samples: list[float] = [0.0] * round(lead_s * RATE)
    for digits in messages:
        samples += keys_audio(digits, tone_ms, gap_ms)
        samples += [0.0] * round(between_s * RATE)
    samples += [0.0] * round(tail_s * RATE)
    return ulaw(samples)


def message_s(digits: str, tone_ms: int = TONE_MS, gap_ms: int = GAP_MS) -> float:
    return len(digits) * (tone_ms + gap_ms) / 1000


# --- G.711 mu-law ------------------------------------------------------------------------

def _ulaw_byte(sample: int) -> int:
    # the classic G.711 encoder, on 14 bits: the magnitude plus a bias of 33 falls in one
    # of 8 segments; the byte is the segment and 4 bits within it, inverted
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    magnitude = min(abs(value), 8159) + 33
    segment = magnitude.bit_length() - 6
    if segment > 7:  # the loudest samples: the top of the last segment
        return 0x7F ^ mask
    return ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ mask


def ulaw(samples: Iterable[float]) -> bytes:
    """Samples in -1..1 as G.711 mu-law bytes (silence is 0xFF)."""
    return bytes(_ulaw_byte(round(max(-1.0, min(1.0, s)) * 32767)) for s in samples)


# --- finding tones in a recording ------------------------------------------------------


def _power(block: Sequence[int], freq: float) -> float:
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in block:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def tone_spans(pcm: Sequence[int], freq: float, *, block_ms: int = 10,
               share: float = 0.5) -> list[tuple[float, float]]:
    """Where ``freq`` holds at least ``share`` of the signal, in 16-bit samples at 8 kHz:
    (start s, end s) spans, to the block. Quiet blocks never count."""
    size = RATE * block_ms // 1000
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for at in range(0, len(pcm) - size + 1, size):
        block = pcm[at:at + size]
        energy = sum(x * x for x in block)
        # a pure tone of amplitude a: Goertzel power ~ (a*N/2)^2, energy ~ a^2*N/2
        hit = energy > size * 200 ** 2 and _power(block, freq) / (energy * size / 2) >= share
        now = at / RATE
        if hit and start is None:
            start = now
        elif not hit and start is not None:
            spans.append((start, now))
            start = None
    if start is not None:
        spans.append((start, len(pcm) / RATE))
    return spans

"""How a text travels as SMS: which alphabet it needs and how many messages it costs.

A phone network carries a text in one of two alphabets:

- GSM-7 (3GPP TS 23.038, "GSM 03.38"): 7-bit characters, 160 in one message, 153 in
  each part of a longer one (the rest of the part is the header that joins them).
  Ten characters of its extension table (``{ } [ ] \\ ~ ^ | €`` and form feed) take
  two places each: an escape, then the character. An escaped pair is never split
  between two parts.
- UCS-2 for everything else: 70 UTF-16 code units in one message, 67 in each part of a
  longer one. A character outside the Basic Multilingual Plane (most emoji) is a
  surrogate pair: two units, never split between two parts.

One character outside GSM-7 sends the whole text as UCS-2. Spanish is the trap: é, ñ,
Ñ, ü, Ü, ¿ and ¡ are GSM-7, but á, í, ó, ú (and Á, Í, Ó, Ú) are not, nor is a tab.
"""

from __future__ import annotations

# The basic table, in code order 0x00-0x7F (0x1B, the escape, is not a character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs an escape plus itself.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in GSM-7 (basic or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _units(text: str, gsm7: bool) -> list[int]:
    """The room each character takes, in septets (GSM-7) or UTF-16 code units."""
    if gsm7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def segments(text: str) -> int:
    """How many messages ``text`` is sent as (an empty text is still one message)."""
    gsm7 = is_gsm7(text)
    units = _units(text, gsm7)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for size in units:  # a character that does not fit whole starts the next part
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def encoding(text: str) -> str:
    """``"gsm7"`` or ``"ucs2"``: the alphabet ``text`` is sent in."""
    return "gsm7" if is_gsm7(text) else "ucs2"

"""Phone numbers, report numbers and zone codes typed on a keypad."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")
# The caller ID is kept as Asterisk sent it, for the record, but never unbounded:
# a SIP peer may send any name, and the environment line may be kilobytes long.
CALLER_ID_RAW_MAX = 80


def usable_caller_id(callerid: str | None, presentation: str | None = None) -> str | None:
    """The caller's number when it can be read back, else None.

    Asterisk sends "unknown" for a withheld number and may send a SIP name;
    presentation 32 and above means the caller asked for it to be restricted.
    """
    if not callerid:
        return None
    number = callerid.strip()
    if number.startswith("+"):
        number = number[1:]
    if not _DIGITS.fullmatch(number):
        return None
    try:
        if presentation and int(presentation) >= 32:
            return None
    except ValueError:
        pass
    return number


def callback_caller_id(
    callerid: str | None, presentation: str | None, *, min_digits: int, max_digits: int
) -> str | None:
    """The caller ID when it may stand as the callback number, else None.

    The same rule as a number typed on the keypad: digits only, within
    ``min_digits..max_digits``. A 40-digit caller ID is not a phone number.
    """
    number = usable_caller_id(callerid, presentation)
    if number is None or not valid_phone(number, min_digits, max_digits):
        return None
    return number


def raw_caller_id(callerid: str | None) -> str | None:
    """The caller ID as received, cut to ``CALLER_ID_RAW_MAX`` characters for the record."""
    if callerid is None:
        return None
    return callerid[:CALLER_ID_RAW_MAX]


def valid_phone(number: str, min_digits: int, max_digits: int) -> bool:
    return bool(_DIGITS.fullmatch(number)) and min_digits <= len(number) <= max_digits


def parse_report_number(typed: str, max_digits: int = 10) -> int | None:
    if not typed or len(typed) > max_digits or not _DIGITS.fullmatch(typed):
        return None
    value = int(typed)
    return value if value > 0 else None

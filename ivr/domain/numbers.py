"""Phone numbers, report numbers and zone codes typed on a keypad."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")


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


def valid_phone(number: str, min_digits: int, max_digits: int) -> bool:
    return bool(_DIGITS.fullmatch(number)) and min_digits <= len(number) <= max_digits


def parse_report_number(typed: str, max_digits: int = 10) -> int | None:
    if not typed or len(typed) > max_digits or not _DIGITS.fullmatch(typed):
        return None
    value = int(typed)
    return value if value > 0 else None

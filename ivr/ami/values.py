"""Every value we put on the AMI wire is checked first, and the wire encoding is ours.

An AMI message is ``Key: Value`` lines ending in CRLF, closed by an empty line
(ASTERISK.md). Asterisk ends a line at CRLF *or at a bare LF*, so a value that
holds CR or LF starts a new header (``Exten: 5551234\\r\\nApplication: System``),
and with an empty line a whole new action. Unsafe values are refused, never
cleaned: stripping would dial a different number from the one the operator
saw, and a control character in a phone number is a bug or an attack upstream.

Each check returns the value unchanged or raises ``UnsafeValue`` naming the
field and the problem. ``encode_action`` checks every key and value again
before building the bytes, so nothing reaches the socket unchecked even if a
caller forgot a field-specific check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Unicode categories refused anywhere in a value: control characters (CR, LF,
# NUL, TAB, DEL, U+0085 NEL ...), format characters (zero-width and direction
# marks), the line and paragraph separators U+2028 and U+2029, surrogates,
# private use and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_SHORT_NAMES = {"\r": "CR", "\n": "LF", "\0": "NUL", "\t": "TAB", "\x7f": "DEL"}

_DIGITS = re.compile(r"[0-9]+")
# An operator's phone: a PJSIP endpoint, or a Local channel into one context.
# One destination only: no "&" (parallel dial), no "/" after the name (a SIP
# URI), no "," (options).
_ENDPOINT = re.compile(
    r"PJSIP/[A-Za-z0-9][A-Za-z0-9_.-]{0,39}"
    r"|Local/[A-Za-z0-9][A-Za-z0-9_-]{0,39}@[A-Za-z][A-Za-z0-9_-]{0,78}"
)
_CONTEXT = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,78}")  # Asterisk's AST_MAX_CONTEXT is 80
_ACTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_HEADER_KEY = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,39}")
_CALLER_NAME_QUOTING = frozenset('"<>\\')

MAX_DIGITS_LIMIT = 32
MAX_VALUE_LEN = 256  # the longest value encode_action accepts (field checks are tighter)
CRLF = "\r\n"


class UnsafeValue(ValueError):
    """A value that must not go to Asterisk; ``field`` names it, ``problem`` says why."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"AMI field {field}: {problem}")


def _describe(char: str) -> str:
    short = _SHORT_NAMES.get(char)
    name = short or unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"{name} ({code})" if name else code


def check_text(field: str, value: str, max_len: int = 80) -> str:
    """Printable text of 1..max_len characters, without surrounding spaces."""
    if not isinstance(value, str):
        raise UnsafeValue(field, f"must be text, not {type(value).__name__}")
    if not value:
        raise UnsafeValue(field, "is empty")
    for position, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise UnsafeValue(
                field,
                f"holds {_describe(char)} at position {position}; control characters and "
                "line breaks are refused, not removed",
            )
    if len(value) > max_len:
        raise UnsafeValue(field, f"is {len(value)} characters long; the limit is {max_len}")
    if value != value.strip():
        raise UnsafeValue(field, "starts or ends with a space (Asterisk would trim it)")
    return value


def check_number(field: str, value: str, *, min_digits: int, max_digits: int) -> str:
    """A phone number: ASCII digits only, min_digits..max_digits of them."""
    if not 1 <= min_digits <= max_digits <= MAX_DIGITS_LIMIT:
        raise ValueError(f"digit limits {min_digits}..{max_digits} must lie within 1..32")
    check_text(field, value, max_len=MAX_DIGITS_LIMIT)
    if not _DIGITS.fullmatch(value):
        raise UnsafeValue(field, f"{value!r} must be digits 0-9 only (no +, spaces or dashes)")
    if not min_digits <= len(value) <= max_digits:
        raise UnsafeValue(
            field, f"has {len(value)} digits; a number has {min_digits} to {max_digits}"
        )
    return value


def check_endpoint(field: str, value: str) -> str:
    """One operator phone: ``PJSIP/<endpoint>`` or ``Local/<exten>@<context>``."""
    check_text(field, value, max_len=128)
    if not _ENDPOINT.fullmatch(value):
        raise UnsafeValue(
            field, f"{value!r} is not a single PJSIP/<name> or Local/<exten>@<context> channel"
        )
    return value


def check_context(field: str, value: str) -> str:
    """A dialplan context name: a letter, then letters, digits, _ or -; at most 79."""
    check_text(field, value, max_len=79)
    if not _CONTEXT.fullmatch(value):
        raise UnsafeValue(field, f"{value!r} is not a dialplan context name")
    return value


def check_action_id(field: str, value: str) -> str:
    """An ActionID: 1..64 of letters, digits and . _ : - (a UUID fits)."""
    check_text(field, value, max_len=64)
    if not _ACTION_ID.fullmatch(value):
        raise UnsafeValue(field, f"{value!r} must be letters, digits and . _ : - only")
    return value


def check_caller_name(field: str, value: str) -> str:
    """The name part of a caller ID: printable, at most 40, no quoting characters."""
    check_text(field, value, max_len=40)
    bad = sorted(set(value) & _CALLER_NAME_QUOTING)
    if bad:
        raise UnsafeValue(field, f"holds {''.join(bad)!r}, which would break the caller ID")
    return value


def check_bounded_int(field: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsafeValue(field, f"must be a whole number, not {type(value).__name__}")
    if not low <= value <= high:
        raise UnsafeValue(field, f"{value} is outside {low}..{high}")
    return value


def encode_action(fields: Sequence[tuple[str, str]]) -> bytes:
    """The bytes of one AMI action: ``Key: Value`` CRLF lines, then an empty line.

    The first field must be ``Action``. Header order is kept as given (Asterisk
    reads headers by name; a repeated key such as ``Variable`` stays repeated).
    """
    if not fields or fields[0][0] != "Action":
        raise ValueError("an AMI action starts with its Action header")
    lines = []
    for key, value in fields:
        if not _HEADER_KEY.fullmatch(key):
            raise UnsafeValue(repr(key), "is not a header name (letters, digits and -)")
        lines.append(f"{key}: {check_text(key, value, max_len=MAX_VALUE_LEN)}{CRLF}")
    return ("".join(lines) + CRLF).encode("utf-8")

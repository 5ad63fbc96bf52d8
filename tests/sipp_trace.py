"""SIPp's message trace (``-trace_msg``), read the same way whichever SIPp wrote it.

Each message is a dashed line with a timestamp, a header line, an empty line
and the SIP text. The header line changed between versions (ASTERISK.md):

- SIPp 3.6:       ``UDP message received [802] bytes :`` and ``UDP message sent (248 bytes):``
- SIPp 3.7.5 on:  ``UDP message received [802] bytes:`` and ``UDP message sent [248] bytes:``

Testers run whatever SIPp their distribution ships, so every form is read.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(r"^-+ .*\n", re.M)
_HEADER = re.compile(
    r"\s*(?:[A-Z0-9]+ )?message (?P<direction>received|sent) "
    r"(?:\[(?P<bracketed>\d+)\] bytes ?:|\((?P<parenthesized>\d+) bytes\):)[ \t]*\r?\n(?P<body>.*)",
    re.S,
)


def messages(trace: str, direction: str) -> list[str]:
    """The SIP messages SIPp ``"received"`` or ``"sent"``, in order, from its trace text."""
    if direction not in ("received", "sent"):
        raise ValueError(f"direction is 'received' or 'sent', not {direction!r}")
    out = []
    for part in _SEPARATOR.split(trace):
        found = _HEADER.match(part)
        if found and found.group("direction") == direction:
            out.append(found.group("body").lstrip("\r\n"))
    return out

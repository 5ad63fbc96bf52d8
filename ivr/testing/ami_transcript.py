"""The AMI transcripts of tests/fixtures/ami/ and the captures of tests/fixtures/captures/."""

from __future__ import annotations

Fields = list[tuple[str, str]]


def parse_transcript(text: str) -> tuple[str, list[tuple[str, Fields]]]:
    """Read a transcript of tests/fixtures/ami/: (banner, [(direction, fields), ...]).

    ``<< `` lines come from Asterisk, ``>> `` from the client, a bare ``<<`` or
    ``>>`` ends a message; ``#`` lines are comments. Repeated keys stay repeated.
    """
    banner = ""
    messages: list[tuple[str, Fields]] = []
    current: Fields = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        direction, _, rest = line.partition(" ")
        if direction not in ("<<", ">>"):
            raise ValueError(f"line {number}: starts with neither << nor >>: {line!r}")
        if not rest:
            messages.append((direction, current))
            current = []
        elif ":" not in rest and not messages and not current:
            banner = rest
        else:
            key, _, value = rest.partition(":")
            current.append((key, value.removeprefix(" ")))
    if current:
        raise ValueError("the transcript ends inside a message")
    return banner, messages

"""Asterisk's side of the FastAGI text: how it splits a command line and what it answers.

Pure functions and constants, kept apart from the fake's behaviour so they can
be read (and tested) against ASTERISK.md line by line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ASTERISK_VERSION = "22.10.1"
ANONYMOUS = "Anonymous"  # the caller name Asterisk shows for a withheld number
ASYNC_HANGUP = "HANGUP"  # the bare line Asterisk sends on its own when the channel dies
UNKNOWN_COMMAND = "510 Invalid or unknown command"
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
USAGE_HEAD = "520-Invalid command syntax.  Proper usage follows:"
USAGE_TAIL = "520 End of proper usage."

# What Asterisk prints between USAGE_HEAD and USAGE_TAIL. Real usage texts run
# over several lines, so some here do too: a client must read to the tail line.
USAGE: dict[str, tuple[str, ...]] = {
    "ANSWER": ("Usage: ANSWER",),
    "STREAM FILE": (
        "Usage: STREAM FILE <filename> <escape digits> [sample offset]",
        " Plays the file; a key among the escape digits stops it (result = its ASCII code).",
    ),
    "GET DATA": (
        "Usage: GET DATA <file to be streamed> [timeout] [maxdigits]",
        " Plays the file and reads up to maxdigits keys; # ends the input early.",
    ),
    "WAIT FOR DIGIT": ("Usage: WAIT FOR DIGIT <timeout>",),
    "RECORD FILE": (
        "Usage: RECORD FILE <filename> <format> <escape digits> <timeout> [offset samples]"
        " [BEEP] [s=silence]",
        " Records to filename.format until a key, the timeout (ms, -1 = none) or silence.",
    ),
    "GET VARIABLE": ("Usage: GET VARIABLE <variablename>",),
    "SET VARIABLE": ("Usage: SET VARIABLE <variablename> <value>",),
    "EXEC": ("Usage: EXEC <application> <options>",),
    "SAY DIGITS": ("Usage: SAY DIGITS <number> <escape digits>",),
    "CHANNEL STATUS": ("Usage: CHANNEL STATUS [<channelname>]",),
    "VERBOSE": ("Usage: VERBOSE <message> <level>",),
    "NOOP": ("Usage: NOOP",),
    "HANGUP": ("Usage: HANGUP [<channelname>]",),
}

_INTEGER = re.compile(r"-?\d+")


class BadSyntax(Exception):
    """The command exists but its arguments are wrong: Asterisk answers with its usage."""


def usage_reply(command_name: str) -> list[str]:
    return [USAGE_HEAD, *USAGE[command_name], USAGE_TAIL]


def integer_arg(text: str) -> int:
    """A numeric argument (timeout, digit count, offset); anything else is bad syntax."""
    if not _INTEGER.fullmatch(text):
        raise BadSyntax(text)
    return int(text)


def split_agi_args(line: str) -> list[str]:
    """Split a command line into words as res_agi does.

    Double quotes group words and may be empty (``""`` is one empty word); a
    backslash makes the next character literal, quote and space included.
    """
    # Most lines hold no quote or backslash: skip the character loop for them.
    if '"' not in line and "\\" not in line:
        return [word for word in line.replace("\t", " ").split(" ") if word]
    words: list[str] = []
    word: list[str] | None = None  # None while between words
    quoted = escaped = False
    for char in line:
        if not escaped and char == "\\":
            escaped = True
        elif not escaped and not quoted and char in " \t":
            if word is not None:
                words.append("".join(word))
                word = None
        else:
            word = word if word is not None else []  # an opening quote also begins a word
            if escaped or char != '"':
                word.append(char)
            else:
                quoted = not quoted
            escaped = False
    if word is not None:
        words.append("".join(word))
    return words


def command_name(words: list[str], known: frozenset[str]) -> str | None:
    """The longest known command the words start with ("GET DATA" before "GET"), upper case.

    Asterisk matches command words without regard to case.
    """
    for length in range(min(len(words), 3), 0, -1):
        name = " ".join(words[:length]).upper()
        if name in known:
            return name
    return None


def environment_block(
    *,
    script: str,
    request: str,
    channel: str,
    uniqueid: str,
    language: str,
    caller_id: str | None,
    caller_name: str,
    threadid: int,
    extra: Mapping[str, str],
) -> list[str]:
    """The ``agi_*`` lines Asterisk opens a FastAGI session with, in its order, then "".

    ``caller_id`` None is a withheld number. ``extra`` replaces lines in place or
    appends new ones (dialplan arguments: "agi_arg_1"; the prefix may be left off).
    """
    withheld = caller_id is None
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": request,
        "agi_channel": channel,
        "agi_language": language,
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": ASTERISK_VERSION,
        "agi_callerid": "unknown" if caller_id is None else caller_id,
        "agi_calleridname": ANONYMOUS if withheld else caller_name,
        "agi_callingpres": "32" if withheld else "0",  # 32: presentation prohibited
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "1234",
        "agi_rdnis": "unknown",
        "agi_context": "alerta-in",
        "agi_extension": "1234",
        "agi_priority": "5",  # the AGI() line of [alerta-in] (captured: 5)
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": str(threadid),
    }
    for name, value in extra.items():
        env[name if name.startswith("agi_") else f"agi_{name}"] = value
    # Real Asterisk writes "name: value" even when the value is empty ("agi_accountcode: ").
    return [f"{name}: {value}" for name, value in env.items()] + [""]

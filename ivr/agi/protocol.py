"""The FastAGI wire format as pure functions: no sockets, no clock, no logging.

Everything here is tested on literal protocol text (see ASTERISK.md). The
server and the channel do the I/O and call these; the wire-level fake in
``ivr.testing`` can use the same functions to read our commands.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from ivr.core.call_control import CallerHungUp, CommandRejected, ProtocolViolation

# Asterisk reads one command into a 2048-byte buffer (AGI_BUF_LEN, NUL included)
# and runs whatever is left of a longer line as a second command: a caller-supplied
# value could smuggle a command in. 2046 bytes + "\n" is the longest safe line.
MAX_COMMAND_BYTES = 2046

# Asterisk writes this bare line, unasked, when the caller hangs up.
HANGUP_NOTICE = "HANGUP"

_POSITIONAL = re.compile(r"arg_([0-9]+)\Z")
# C0, DEL and C1 controls: CR/LF would end the command early and start another.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A word Asterisk's parse_args keeps as is: no space/tab, quote or backslash.
_BARE_WORD = re.compile(r'[^\s"\\\x00-\x1f\x7f-\x9f]+\Z')
# The data in parentheses runs from the first "(" to the last ")" so a variable
# value may itself hold parentheses; the greedy group gives exactly that.
_SUCCESS = re.compile(
    r"200 result=(?P<result>[-0-9*#A-D]*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>[0-9]+))?\Z",
    re.DOTALL,
)
_EXCERPT = 120  # how much of a bad line goes into an error message
# A Reply is immutable and a call hears the same few replies again and again
# ("200 result=0 endpos=8000", "200 result=1"): each distinct line is parsed once.
_PARSED: dict[str, Reply] = {}
_PARSED_MAX = 1024


@dataclass(frozen=True, slots=True)
class Environment:
    """The environment block: ``agi_*`` names without the prefix, and what was skipped."""

    values: dict[str, str]
    malformed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One successful (200) reply. What ``-1`` means is each command's business."""

    code: int
    result: str
    data: str | None = None  # the parenthesised part: "timeout", "dtmf", a variable's value
    endpos: int | None = None
    raw: str = ""

    @property
    def number(self) -> int:
        """The result as an integer, for commands whose result is a code."""
        try:
            return int(self.result)
        except ValueError:
            raise ProtocolViolation(f"expected a numeric result: {excerpt(self.raw)!r}") from None


def excerpt(text: str) -> str:
    """The start of ``text``, short enough for a log line or an error message."""
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def decode_line(raw: bytes) -> tuple[str, bool]:
    """Bytes of one line → (text without the line end, whether bytes were undecodable).

    Asterisk passes SIP display names through untouched, so a latin-1 name must
    still give a usable line rather than an exception.
    """
    raw = raw.rstrip(b"\r\n")
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


# --- environment -------------------------------------------------------------------


def parse_env_line(line: str) -> tuple[str, str] | None:
    """``agi_name: value`` → (``name``, ``value``); None for anything else."""
    # The rule is r"agi_([A-Za-z0-9_]+): ?(.*)", checked without a regex for the
    # twenty-odd lines of every call: the name runs to the first colon.
    head, colon, value = line.partition(":")
    name = head[4:]
    if not (colon and head.startswith("agi_") and name and name.isascii()):
        return None
    if not name.replace("_", "a").isalnum():
        return None
    return name, value[1:] if value.startswith(" ") else value


def parse_environment(lines: Iterable[str]) -> Environment:
    """Parse the lines before the blank line; malformed lines are skipped and listed."""
    values: dict[str, str] = {}
    malformed: list[str] = []
    for line in lines:
        pair = parse_env_line(line)
        if pair is None:
            malformed.append(line)
        else:
            values[pair[0]] = pair[1]
    return Environment(values, tuple(malformed))


def parse_script(network_script: str) -> tuple[str, dict[str, str]]:
    """``report?lang=en&x=1`` (or ``/report?...``) → ("report", {"lang": "en", "x": "1"})."""
    path, _, query = network_script.partition("?")
    return unquote(path.strip("/")), dict(parse_qsl(query, keep_blank_values=True))


def positional_args(env: Mapping[str, str]) -> dict[str, str]:
    """``arg_1``, ``arg_2``... (from ``AGI(agi://host/script,a,b)``) → {"1": "a", "2": "b"}."""
    args: dict[str, str] = {}
    for name, value in env.items():
        match = _POSITIONAL.match(name)
        if match:
            args[str(int(match[1]))] = value
    return args


# --- commands ----------------------------------------------------------------------


def refuse_control(value: str) -> str:
    """Return ``value``; raise ValueError if it holds a control character."""
    if _CONTROL.search(value):
        raise ValueError(f"control character in AGI argument {value!r}")
    return value


def quote(value: str) -> str:
    """One AGI argument in double quotes, the way Asterisk's parse_args reads it back."""
    refuse_control(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def word(value: str) -> str:
    """A name or path left bare when Asterisk reads it back unchanged, else quoted."""
    return value if _BARE_WORD.match(value) else quote(value)


def command_line(*parts: str) -> str:
    """Join already-formatted parts; refuse a line Asterisk would cut in two."""
    line = " ".join(parts)
    size = len(line) if line.isascii() else len(line.encode("utf-8"))
    if size > MAX_COMMAND_BYTES:
        raise ValueError(f"AGI command longer than {MAX_COMMAND_BYTES} bytes: {excerpt(line)!r}")
    return line


def answer() -> str:
    return "ANSWER"


def hangup() -> str:
    return "HANGUP"


@functools.lru_cache(maxsize=1024)
def stream_file(file: str, keys: str) -> str:
    return command_line("STREAM FILE", word(file), quote(keys))


@functools.lru_cache(maxsize=1024)
def get_data(prompt: str, timeout_ms: int, max_digits: int) -> str:
    return command_line("GET DATA", word(prompt), str(timeout_ms), str(max_digits))


def record_file(path: str, fmt: str, keys: str, max_ms: int, *, beep: bool, silence_s: int) -> str:
    # BEEP is any non-numeric word without "=" after the timeout (res_agi's rule).
    beep_part = ("BEEP",) if beep else ()
    return command_line(
        "RECORD FILE", word(path), word(fmt), quote(keys), str(max_ms), *beep_part, f"s={silence_s}"
    )


@functools.lru_cache(maxsize=1024)
def get_variable(name: str) -> str:
    return command_line("GET VARIABLE", word(name))


@functools.lru_cache(maxsize=1024)
def set_variable(name: str, value: str) -> str:
    return command_line("SET VARIABLE", word(name), quote(value))


def verbose(message: str, level: int = 1) -> str:
    return command_line("VERBOSE", quote(message), str(level))


def _app_field(value: str, what: str) -> str:
    # Applications split their options on ","; one inside a name would shift them.
    if not value or "," in value:
        raise ValueError(f"{what} {value!r} must be non-empty and hold no comma")
    return value


def goto(context: str, extension: str, priority: int) -> str:
    target = f"{_app_field(context, 'context')},{_app_field(extension, 'extension')},{priority}"
    return command_line("EXEC Goto", word(target))


def queue(name: str, timeout_s: int) -> str:
    # Options: c = continue in the dialplan when the operator hangs up.
    return command_line("EXEC Queue", quote(f"{_app_field(name, 'queue')},c,,,{timeout_s}"))


def split_command(line: str) -> list[str]:
    """Split a command line as Asterisk's parse_args does (for fakes and tests)."""
    args: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for char in line:
        if escaped:
            current.append(char)
            in_word, escaped = True, False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted, in_word = not quoted, True
        elif char in " \t" and not quoted:
            if in_word:
                args.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        args.append("".join(current))
    return args


# --- replies -----------------------------------------------------------------------


def starts_usage(line: str) -> bool:
    """True for the first line of a multi-line 520 reply; read up to ``ends_usage``."""
    return line.startswith("520-")


def ends_usage(line: str) -> bool:
    return line.startswith("520 ")


def parse_reply(lines: Sequence[str]) -> Reply:
    """Map one complete reply to a Reply, or raise the typed error it stands for."""
    if not lines:
        raise ProtocolViolation("empty reply")
    first = lines[0]
    known = _PARSED.get(first)
    if known is not None:
        return known
    match = _SUCCESS.match(first)
    if match:
        endpos = match["endpos"]
        reply = Reply(200, match["result"], match["data"], int(endpos) if endpos else None, first)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[first] = reply
        return reply
    code, text = first[:3], first[4:]
    if code == "511":
        raise CallerHungUp(f"dead channel: {first}")
    if code == "510":
        raise CommandRejected(510, text)
    if code == "520":
        rest = [line[4:] if line[:4] in ("520-", "520 ") else line for line in lines[1:]]
        raise CommandRejected(520, "\n".join([text, *rest]))
    raise ProtocolViolation(f"not an AGI reply: {excerpt(first)!r}")

"""A wire-level fake Asterisk: it dials a FastAGI server and plays a scripted caller.

It behaves as ASTERISK.md (our notes on Asterisk 22 on the wire) says: the ``agi_*``
environment block, one reply line per command, ``200 result=-1`` when the
caller hangs up, the asynchronous bare ``HANGUP`` line, 511 on a dead channel,
510/520 for unknown commands and bad arguments. It is cheap on purpose because
soak tests and benchmarks place thousands of calls: a call is an asyncio
protocol that answers each command as its line arrives, with no task, no sleep
and no buffer copy per command. Only RECORD FILE waits, like Asterisk does, for
its file to be written, in a worker thread so that a slow disk holds up that
call and not every other.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ivr import variables
from ivr.testing.agi_wire import (
    ANONYMOUS,
    ASYNC_HANGUP,
    DEAD_CHANNEL,
    UNKNOWN_COMMAND,
    BadSyntax,
    command_name,
    environment_block,
    integer_arg,
    split_agi_args,
    usage_reply,
)
from ivr.testing.wav import LOW_NOISE_PCM, SAMPLE_WIDTH, SAMPLES_PER_MS, load_voice, write_wav

RECORD_ENDS = ("dtmf", "timeout")
HANGUP_LINES = ("after_reply", "before_next_reply")
HANGUP_AT_START = "start"

PLAYED_TO_END = 8000  # endpos of a prompt heard to its end: one second of audio
CUT_SHORT = 1600  # endpos where a key or a hang-up stopped a prompt
CHANNEL_UP = 6
GET_DATA_NO_LIMIT = 1024  # what Asterisk uses when GET DATA names no digit count
COMMAND_MAX_BYTES = 1 << 16  # a longer command line is a protocol error

_call_numbers = itertools.count()


@dataclass
class CallScript:
    """What the caller does.

    - ``keys``: one entry per input request, in order: GET DATA takes "123#"
      (typed then #), "123" (typing stopped: timeout unless the digit limit is
      reached), "#" or "" (silence); WAIT FOR DIGIT takes its first character.
      An entry "^d" is a key pressed during a prompt: the next STREAM FILE or
      SAY DIGITS that allows d stops there and consumes it.
    - ``voice``: what RECORD FILE captures (a WAV path, WAV bytes or raw PCM);
      None records a second of quiet noise.
    - ``hangup_at``: a value of ALERTA_STEP, or "start". Once the flow sets that
      step, the next command named in ``hangup_on`` is where the caller hangs up
      (with "start", the first command that touches the channel).
    - ``record_end``: "dtmf" (a take ends with #) or "timeout" (silence ends it).
    - ``queue_status``: QUEUESTATUS after EXEC Queue; None = an operator answered.
    - ``hangup_line``: where the asynchronous HANGUP line lands: "after_reply",
      or "before_next_reply" (after the script's next command, before its reply).
    - ``extra_env``: added to or replacing ``agi_*`` lines ("arg_1" = "agi_arg_1").
    - ``timeout_s``: the whole call's limit; past it the fake hangs up the socket.
    - ``unwritable_takes``: RECORD FILE commands (1 = the first) that answer
      ``200 result=-1 (writefile)``, as Asterisk does on a full disk.
    - ``hold_at``: a value of ALERTA_STEP where the caller lingers: the reply to that
      SET VARIABLE waits until the test sets ``release``; ``holding`` is set once there
      (a call kept in progress while the test changes something, a publish say).
    """

    keys: Sequence[str] = ()
    voice: Path | bytes | None = None
    caller_id: str | None = "5551234"
    caller_name: str = "Juan Perez"
    script: str = "report"
    hangup_at: str | None = None
    hangup_on: tuple[str, ...] = ("GET DATA", "WAIT FOR DIGIT", "RECORD FILE")
    record_end: str = "dtmf"
    queue_status: str | None = "TIMEOUT"
    hangup_line: str = "after_reply"
    uniqueid: str | None = None
    language: str = "en"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    unwritable_takes: tuple[int, ...] = ()
    hold_at: str | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.record_end not in RECORD_ENDS:
            raise ValueError(f"record_end must be one of {RECORD_ENDS}, not {self.record_end!r}")
        if self.hangup_line not in HANGUP_LINES:
            raise ValueError(f"hangup_line must be one of {HANGUP_LINES}, not {self.hangup_line!r}")
        if isinstance(self.keys, str):
            # A bare string would be read key by key, one input request per key.
            raise TypeError("keys must be a sequence of strings, e.g. ['1', '5551234#']")


@dataclass
class CallResult:
    """What the server did. ``transcript`` holds ("->", sent) and ("<-", received)
    lines, env block included; ``command_latencies`` holds, per command, the time
    from the end of the fake's previous output (the env block for the first) to
    the command's arrival."""

    transcript: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    recordings: list[Path] = field(default_factory=list)
    goto: str | None = None
    hung_up: bool = False
    closed_by_server: bool = False
    error: str | None = None
    command_latencies: list[float] = field(default_factory=list)


async def place_call(host: str, port: int, script: CallScript) -> CallResult:
    """Dial ``agi://host:port/<script.script>``, play the caller, return what happened.

    Network trouble and protocol errors end up in ``CallResult.error``; only a
    malformed ``script`` (bad voice file, bad option) raises, before dialling.
    """
    script.validate()
    call = _Call(script)
    try:
        async with asyncio.timeout(script.timeout_s):
            await call.run(host, port)
    except TimeoutError:
        call.result.error = f"safety timeout: the call was still on after {script.timeout_s:g} s"
    return call.result


@dataclass(frozen=True, slots=True)
class _Recording:
    """RECORD FILE's audio: written to disk first, then ``reply(written)`` answers it."""

    target: Path
    audio: bytes
    reply: Callable[[bool], str]


@dataclass(frozen=True, slots=True)
class _LateAnswer:
    """The lines answering a RECORD FILE, once its file is written (or failed to be)."""

    recording: _Recording
    lines: Callable[[bool], list[str]]


_Handler = Callable[["_Call", list[str], bool], "str | _Recording"]


class _Call:
    """One call's state; replies are computed synchronously, only socket I/O awaits."""

    def __init__(self, script: CallScript) -> None:
        self.script = script
        self.result = CallResult()
        self.number = next(_call_numbers)
        self.channel_name = f"PJSIP/trunk-{self.number:08x}"
        self.keys: deque[str] = deque(script.keys)
        # Load before dialling, so a bad voice file is the test's error, not the call's.
        self.voice = LOW_NOISE_PCM if script.voice is None else load_voice(script.voice)
        self.hangup_on = frozenset(" ".join(name.upper().split()) for name in script.hangup_on)
        self.armed = script.hangup_at == HANGUP_AT_START
        self.takes = 0  # RECORD FILE commands heard
        self.hold_now = False  # the caller lingers before this reply (``hold_at``)
        self.dead = False
        self.hangup_line_due = False  # the channel just died: a bare HANGUP must follow
        self.hangup_line_pending = False  # ... and it waits for the server's next command
        self.channel_vars: dict[str, str] = {
            "CALLERID(num)": script.caller_id or "",
            "CALLERID(name)": script.caller_name if script.caller_id is not None else ANONYMOUS,
            variables.LANGUAGE: script.language,
        }

    # -- the conversation ------------------------------------------------------------

    async def run(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, wire = await loop.create_connection(
                lambda: _Wire(self, self._environment(host, port)), host, port
            )
        except OSError as exc:
            self.result.error = f"cannot connect to {host}:{port}: {exc}"
            return
        try:
            await wire.over  # the conversation; then our side closes
            transport.close()
            await wire.lost
        except asyncio.CancelledError:
            # The safety timeout (or the test) gave up: drop the socket without a goodbye.
            transport.abort()
            raise

    def heard(self, line: str) -> list[str] | _LateAnswer:
        """The lines that answer one command line (the late HANGUP rules included)."""
        self.result.transcript.append(("<-", line))
        self.result.commands.append(line)
        before = [ASYNC_HANGUP] if self.hangup_line_pending else []
        self.hangup_line_pending = False
        reply = self._reply(line)
        if isinstance(reply, _Recording):
            recording = reply
            return _LateAnswer(
                recording, lambda written: self._answer(before, [recording.reply(written)])
            )
        return self._answer(before, reply)

    def _answer(self, before: list[str], reply: list[str]) -> list[str]:
        lines = before + reply
        if self.hangup_line_due:
            self.hangup_line_due = False
            if self.script.hangup_line == "after_reply":
                lines.append(ASYNC_HANGUP)
            else:
                self.hangup_line_pending = True
        return lines

    def _environment(self, host: str, port: int) -> list[str]:
        script = self.script
        request_host = f"[{host}]" if ":" in host else host  # an IPv6 literal
        return environment_block(
            script=script.script,
            request=f"agi://{request_host}:{port}/{script.script}",
            channel=self.channel_name,
            uniqueid=script.uniqueid or f"1795584686.{self.number}",
            language=script.language,
            caller_id=script.caller_id,
            caller_name=script.caller_name,
            threadid=140185596241600 + self.number,
            extra=script.extra_env,
        )

    def _reply(self, line: str) -> list[str] | _Recording:
        name, args = _parse_command(line)
        if name is None:
            return [UNKNOWN_COMMAND]
        handler = _HANDLERS[name]
        if self.dead and name not in _WORK_WHEN_DEAD:
            return [DEAD_CHANNEL]
        try:
            reply = handler(self, list(args), self._hangs_up_now(name))
        except BadSyntax:
            return usage_reply(name)
        return reply if isinstance(reply, _Recording) else [reply]

    # -- the caller ------------------------------------------------------------------

    def _hangs_up_now(self, name: str) -> bool:
        if not self.armed or name in _WORK_WHEN_DEAD:
            return False
        return self.script.hangup_at == HANGUP_AT_START or name in self.hangup_on

    def _caller_hangs_up(self, reply: str) -> str:
        self.result.hung_up = True
        self._channel_dies()
        return reply

    def _channel_dies(self) -> None:
        self.dead = True
        self.armed = False
        self.hangup_line_due = True

    def _next_keys(self) -> str:
        entry = self.keys.popleft() if self.keys else ""
        return entry.removeprefix("^")

    def _barge_in(self, escape_digits: str) -> str | None:
        entry = self.keys[0] if self.keys else ""
        if len(entry) == 2 and entry[0] == "^" and entry[1] in escape_digits:
            return self.keys.popleft()[1]
        return None

    # -- commands: each checks its arguments first, then acts ----------------------------

    def answer(self, args: list[str], hangs_up: bool) -> str:
        return self._caller_hangs_up("200 result=-1") if hangs_up else "200 result=0"

    def stream_file(self, args: list[str], hangs_up: bool) -> str:
        if not 2 <= len(args) <= 3:
            raise BadSyntax
        if len(args) == 3:
            integer_arg(args[2])
        self.result.played.append(args[0])
        if hangs_up:
            return self._caller_hangs_up(f"200 result=-1 endpos={CUT_SHORT}")
        key = self._barge_in(args[1])
        if key is not None:
            return f"200 result={ord(key)} endpos={CUT_SHORT}"
        return f"200 result=0 endpos={PLAYED_TO_END}"

    def get_data(self, args: list[str], hangs_up: bool) -> str:
        if not args:
            raise BadSyntax
        if len(args) >= 2:
            integer_arg(args[1])
        limit = integer_arg(args[2]) if len(args) >= 3 else GET_DATA_NO_LIMIT
        limit = limit if limit > 0 else GET_DATA_NO_LIMIT
        self.result.played.extend(args[0].split("&"))  # Asterisk plays "a&b" as two prompts
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        typed, hash_key, rest = self._next_keys().partition("#")
        if len(typed) >= limit:
            # Asterisk stops reading at the limit; what the caller pressed after it (the
            # closing # included) waits in the channel and reaches the next read first.
            left = typed[limit:] + hash_key + rest
            if left:
                self.keys.appendleft(left)
            return f"200 result={typed[:limit]}"
        return f"200 result={typed}" if hash_key else f"200 result={typed} (timeout)"

    def wait_for_digit(self, args: list[str], hangs_up: bool) -> str:
        if len(args) != 1:
            raise BadSyntax
        integer_arg(args[0])
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        key = self._next_keys()[:1]
        return f"200 result={ord(key) if key else 0}"

    def record_file(self, args: list[str], hangs_up: bool) -> str | _Recording:
        # Options after the timeout ([offset] [BEEP] [s=N]) are accepted as Asterisk does.
        if len(args) < 4:
            raise BadSyntax
        path, file_format, escape_digits, limit_ms = args[0], args[1], args[2], integer_arg(args[3])
        audio = self.voice
        if limit_ms > 0:  # -1 means no limit
            audio = audio[: limit_ms * SAMPLES_PER_MS * SAMPLE_WIDTH]
        if hangs_up:  # only what arrived before the caller hung up is on disk
            audio = audio[: len(audio) // (2 * SAMPLE_WIDTH) * SAMPLE_WIDTH]
        target = Path(f"{path}.{file_format}")
        self.takes += 1
        # wav is the only format this fake can write; a full disk refuses any.
        if file_format != "wav" or self.takes in self.script.unwritable_takes:
            return "200 result=-1 (writefile)"

        def reply(written: bool) -> str:
            if not written:
                # Asterisk creates no folders: a missing one fails before any audio
                # flows, so the caller has not hung up yet; that happens at a later command.
                return "200 result=-1 (writefile)"
            self.result.recordings.append(target)
            samples = len(audio) // SAMPLE_WIDTH
            if hangs_up:
                return self._caller_hangs_up(f"200 result=-1 (hangup) endpos={samples}")
            key = "#" if "#" in escape_digits else escape_digits[:1]
            if self.script.record_end == "dtmf" and key:
                return f"200 result={ord(key)} (dtmf) endpos={samples}"
            return f"200 result=0 (timeout) endpos={samples}"

        return _Recording(target, audio, reply)

    def get_variable(self, args: list[str], hangs_up: bool) -> str:
        if len(args) != 1:
            raise BadSyntax
        value = self.channel_vars.get(args[0])
        return "200 result=0" if value is None else f"200 result=1 ({value})"

    def set_variable(self, args: list[str], hangs_up: bool) -> str:
        if len(args) != 2:
            raise BadSyntax
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        name, value = args
        self.result.variables[name] = value
        self.channel_vars[name] = value
        if name == variables.STEP:
            self.result.steps.append(value)
            if value == self.script.hangup_at:
                self.armed = True
            if value == self.script.hold_at:
                self.hold_now = True
        return "200 result=1"

    def exec_app(self, args: list[str], hangs_up: bool) -> str:
        if not args:
            raise BadSyntax
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        # Asterisk hands the application only the next word; more words are dropped.
        app, app_args = args[0].lower(), args[1] if len(args) > 1 else ""
        if app == "goto":
            self.result.goto = app_args
        elif app == "queue":
            if self.script.queue_status is None:  # an operator answered: Queue() sets nothing
                self.channel_vars.pop(variables.QUEUE_STATUS, None)
            else:
                self.channel_vars[variables.QUEUE_STATUS] = self.script.queue_status
        return "200 result=0"

    def say_digits(self, args: list[str], hangs_up: bool) -> str:
        if len(args) != 2:
            raise BadSyntax
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        key = self._barge_in(args[1])
        return f"200 result={ord(key) if key is not None else 0}"

    def channel_status(self, args: list[str], hangs_up: bool) -> str:
        if len(args) > 1:
            raise BadSyntax
        return self._caller_hangs_up("200 result=-1") if hangs_up else f"200 result={CHANNEL_UP}"

    def verbose(self, args: list[str], hangs_up: bool) -> str:
        if not args:
            raise BadSyntax
        return "200 result=1"

    def noop(self, args: list[str], hangs_up: bool) -> str:
        return "200 result=0"

    def hangup(self, args: list[str], hangs_up: bool) -> str:
        if len(args) > 1:
            raise BadSyntax
        if args and args[0] != self.channel_name:
            return "200 result=-1"  # no such channel
        if hangs_up:
            return self._caller_hangs_up("200 result=-1")
        self._channel_dies()  # the server hung up: not the caller's doing
        return "200 result=1"


_HANDLERS: dict[str, _Handler] = {
    "ANSWER": _Call.answer,
    "STREAM FILE": _Call.stream_file,
    "GET DATA": _Call.get_data,
    "WAIT FOR DIGIT": _Call.wait_for_digit,
    "RECORD FILE": _Call.record_file,
    "GET VARIABLE": _Call.get_variable,
    "SET VARIABLE": _Call.set_variable,
    "EXEC": _Call.exec_app,
    "SAY DIGITS": _Call.say_digits,
    "CHANNEL STATUS": _Call.channel_status,
    "VERBOSE": _Call.verbose,
    "NOOP": _Call.noop,
    "HANGUP": _Call.hangup,
}
_KNOWN = frozenset(_HANDLERS)
# ASTERISK.md: after a hang-up only GET VARIABLE and VERBOSE still answer 200.
# NOOP touches no channel either, and res_agi lets it through too.
_WORK_WHEN_DEAD = frozenset({"GET VARIABLE", "VERBOSE", "NOOP"})


def _parse_command(line: str) -> tuple[str | None, tuple[str, ...]]:
    """A command line → (its command name, or None if unknown; its arguments)."""
    parsed = _PARSED.get(line)
    if parsed is None:
        words = split_agi_args(line)
        name = command_name(words, _KNOWN)
        parsed = (name, tuple(words[len(name.split()) :]) if name else ())
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[line] = parsed
    return parsed


# Thousands of calls send the same few hundred lines: each is split only once.
_PARSED: dict[str, tuple[str | None, tuple[str, ...]]] = {}
_PARSED_MAX = 4096


_per_thread = threading.local()


def _read_buffer() -> memoryview:
    # Kept apart from ivr.agi's own: the fake shares no code with the server it tests.
    view: memoryview | None = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(1 << 16))
    return view


def _write_recording(target: Path, audio: bytes) -> bool:
    try:
        write_wav(target, audio)
    except OSError:
        return False
    return True


class _Wire(asyncio.BufferedProtocol):
    """One call's socket: frames the server's lines and writes the call's answers.

    A ``BufferedProtocol`` reading into one buffer per thread, shared by all
    calls: a plain protocol's ``recv(256 KiB)`` costs an mmap and a munmap per line.

    ``command_latencies`` are taken here, as each line arrives, so they count
    the server's time and not how long this process took to get to the line.
    """

    def __init__(self, call: _Call, environment: list[str]) -> None:
        self.call = call
        self.environment = environment
        loop = asyncio.get_running_loop()
        self.over: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = _read_buffer()
        self.partial = b""
        self.recording = False  # a RECORD FILE is being written: later lines wait
        self.eof = False  # the server closed its side
        self.waiting: deque[bytes] = deque()
        self.replied_at = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._send(self.environment)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.over.done():
            return
        arrived = time.perf_counter()
        if self.partial:
            data = self.partial + data
        start = 0
        end = data.find(b"\n")
        while end >= 0:
            if end - start > COMMAND_MAX_BYTES:
                self._end(error="protocol error: a command line longer than 64 KiB")
                return
            self._command(data[start:end], arrived)
            start = end + 1
            end = data.find(b"\n", start)
        self.partial = data[start:] if start else data
        if len(self.partial) > COMMAND_MAX_BYTES:
            self._end(error="protocol error: a command line longer than 64 KiB")

    def eof_received(self) -> bool:
        self.eof = True
        if not self.recording:
            self._server_left()
        return True  # our goodbye may still go out

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.over.done():
            self.call.result.closed_by_server = True  # a reset is the server closing, abruptly
            self._end()
        if not self.lost.done():
            self.lost.set_result(None)

    # -- the conversation ----------------------------------------------------------------

    def _command(self, raw: bytes, arrived: float) -> None:
        if self.over.done():
            return
        if self.recording:
            self.waiting.append(raw)
            return
        self.call.result.command_latencies.append(arrived - self.replied_at)
        answer = self.call.heard(raw.decode("utf-8", "replace").rstrip("\r"))
        if isinstance(answer, _LateAnswer):
            self.recording = True
            recording = answer.recording
            future = asyncio.get_running_loop().run_in_executor(
                None, _write_recording, recording.target, recording.audio
            )
            future.add_done_callback(lambda done: self._recorded(answer, done))
            return
        if self.call.hold_now:
            self.call.hold_now = False
            self.recording = True  # later lines wait, as behind a recording
            self.call.script.holding.set()
            task = asyncio.get_running_loop().create_task(self.call.script.release.wait())
            task.add_done_callback(lambda _: self._released(answer))
            return
        self._send(answer)

    def _released(self, answer: list[str]) -> None:
        self.recording = False
        if self.over.done():
            return
        self._send(answer)
        while self.waiting and not self.recording and not self.over.done():
            self._command(self.waiting.popleft(), time.perf_counter())
        if self.eof and not self.recording and not self.over.done():
            self._server_left()

    def _recorded(self, answer: _LateAnswer, done: asyncio.Future[bool]) -> None:
        self.recording = False
        if self.over.done():
            return  # the call ended while the file was written
        written = not done.cancelled() and done.exception() is None and done.result()
        self._send(answer.lines(written))
        while self.waiting and not self.recording and not self.over.done():
            self._command(self.waiting.popleft(), time.perf_counter())
        if self.eof and not self.recording and not self.over.done():
            self._server_left()

    def _server_left(self) -> None:
        """The server closed its side: a partial line is an error, a dead channel says HANGUP."""
        result = self.call.result
        result.closed_by_server = True
        if self.partial:
            result.error = f"the server closed in the middle of a line: {self.partial!r}"
        if self.call.dead:
            # Asterisk's goodbye to a script that closes on a dead channel.
            self._send([ASYNC_HANGUP])
        self._end()

    def _send(self, lines: list[str]) -> None:
        self.call.result.transcript.extend(("->", line) for line in lines)
        assert self.transport is not None
        self.transport.write("".join(f"{line}\n" for line in lines).encode())
        self.replied_at = time.perf_counter()

    def _end(self, error: str | None = None) -> None:
        if error is not None:
            self.call.result.error = error
        if not self.over.done():
            self.over.set_result(None)

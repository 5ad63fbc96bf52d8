"""``AgiCallControl``: the ``CallControl`` verbs over one FastAGI connection.

One command at a time: the line goes out, then exactly one reply comes back.
Asterisk may slip a bare ``HANGUP`` line in anywhere between replies; it is
skipped here, so it can never be taken for the next command's reply.

Every command has a reply time limit. Rather than a timer per command, each
channel keeps one watchdog timer and moves a deadline: the timer only does work
when it fires, and then either times out the command still waiting or sleeps
again until the current deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import NoReturn

from ivr import variables
from ivr.agi import protocol
from ivr.agi.connection import AgiConnection, ConnectionEnded, LineTooLong
from ivr.agi.protocol import Reply
from ivr.core.call_control import (
    CallControlError,
    CallerHungUp,
    CommandTimeout,
    ProtocolViolation,
    QueueOutcome,
    RecordEnd,
    RecordingFailed,
    RecordResult,
)
from ivr.settings_sections import AgiSection

logger = logging.getLogger(__name__)

# A real usage text is a few dozen lines; more is a peer flooding us.
MAX_USAGE_LINES = 200
# Queue() returns only when the operator call ends, not when the wait ends.
OPERATOR_TALK_MAX_S = 2 * 3600.0
_DIGIT_KEYS = frozenset("0123456789*#ABCD")
# asyncio runs a timer up to its clock resolution early; a deadline this close has passed.
_DEADLINE_SLACK_S = 0.001


class _Expired(Exception):
    """The watchdog's word to the command waiting past its deadline."""


def key_of(reply: Reply) -> str | None:
    """The key in a reply whose result is an ASCII code (STREAM FILE, RECORD FILE)."""
    code = reply.number
    if code == 0:
        return None
    if not 0 < code < 128:
        raise ProtocolViolation(f"not a key code: {protocol.excerpt(reply.raw)!r}")
    return chr(code)


def digits_result(reply: Reply) -> tuple[str, bool]:
    """GET DATA: (digits, timed_out); ``result=`` alone means # was pressed at once."""
    if reply.result == "-1":
        raise CallerHungUp("hung up while entering digits")
    if not _DIGIT_KEYS.issuperset(reply.result):
        raise ProtocolViolation(f"not digits: {protocol.excerpt(reply.raw)!r}")
    return reply.result, reply.data == "timeout"


def record_result(reply: Reply) -> RecordResult:
    """RECORD FILE: how it ended. A hangup returns (the clip is kept); writefile raises."""
    samples = reply.endpos or 0
    if reply.data in ("hangup", "waitfor"):
        return RecordResult(RecordEnd.HANGUP, samples)
    if reply.data == "dtmf":
        return RecordResult(RecordEnd.DTMF, samples, key_of(reply))
    if reply.data == "timeout":
        return RecordResult(RecordEnd.TIMEOUT, samples)
    if reply.data == "writefile":
        # Not a hangup (that says "(hangup)"): nothing was written, the caller waits.
        raise RecordingFailed(f"recording not written: {protocol.excerpt(reply.raw)!r}")
    if reply.data == "randomerror":
        # The beep was cut short: by a key (result = its code) or by a hangup (-1).
        if reply.result == "-1":
            return RecordResult(RecordEnd.HANGUP, samples)
        return RecordResult(RecordEnd.DTMF, samples, key_of(reply))
    if reply.result == "-1" and reply.data is None:
        raise CallerHungUp("hung up before recording")
    raise CallControlError(f"recording failed: {protocol.excerpt(reply.raw)!r}")


class AgiCallControl:
    """One live call over FastAGI; implements ``ivr.core.call_control.CallControl``."""

    def __init__(
        self,
        conn: AgiConnection,
        settings: AgiSection,
        *,
        info: Mapping[str, str],
        args: Mapping[str, str],
    ) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        # One command at a time: _busy is the channel's lock, _turns who waits for it.
        self._busy = False
        self._turns: deque[asyncio.Future[None]] = deque()
        self._deadline: float | None = None  # of the command in progress
        self._watchdog: asyncio.TimerHandle | None = None
        self._timeout_s = settings.command_timeout_s
        # The longest file a flow plays is a caller's own recording, played back.
        self._play_max_s = settings.play_max_s
        self._line_max = settings.line_max_bytes
        self._info = info
        self._args = args
        self._uniqueid = info.get("uniqueid", "?")
        # Replies still owed by Asterisk: a command abandoned by a timeout or a
        # cancellation still gets its reply, which must not be taken for the next one.
        self._owed = 0
        self._hung_up = False
        self._eof = False  # Asterisk closed the connection
        self._garbled = False  # a reply could not be framed: later lines cannot be trusted
        self._warned_encoding = False
        self.step: str | None = None  # the last step the flow marked (for the call's metrics)

    @property
    def info(self) -> Mapping[str, str]:
        return self._info

    @property
    def args(self) -> Mapping[str, str]:
        return self._args

    @property
    def hung_up(self) -> bool:
        """True once Asterisk said the caller is gone (HANGUP, -1, 511 or EOF)."""
        return self._hung_up

    # --- the verbs -------------------------------------------------------------------

    async def answer(self) -> None:
        await self._channel_command(protocol.answer())

    async def mark_step(self, step: str) -> None:
        self.step = step
        await self.set_variable(variables.STEP, step)

    async def play(self, files: str | list[str], *, keys: str = "") -> str | None:
        for file in [files] if isinstance(files, str) else files:
            reply = await self._channel_command(protocol.stream_file(file, keys), self._play_max_s)
            key = key_of(reply)
            if key is not None:
                return key
        return None

    async def read_digits(
        self, prompt: str, *, max_digits: int, timeout_s: float
    ) -> tuple[str, bool]:
        if max_digits < 1 or timeout_s <= 0:
            raise ValueError("max_digits and timeout_s must be positive")
        line = protocol.get_data(prompt, round(timeout_s * 1000), max_digits)
        # Asterisk waits up to timeout_s for each digit, after the prompt.
        return digits_result(await self._channel_command(line, timeout_s * max_digits))

    async def record(
        self, path: str, *, max_s: int, silence_s: int, beep: bool = True, keys: str = "#"
    ) -> RecordResult:
        line = protocol.record_file(path, "wav", keys, max_s * 1000, beep=beep, silence_s=silence_s)
        reply = await self._run(line, float(max_s))
        try:
            result = record_result(reply)
        except CallerHungUp:
            self._hung_up = True
            raise
        if result.ended_by is RecordEnd.HANGUP:
            self._hung_up = True
        return result

    async def get_variable(self, name: str) -> str | None:
        reply = await self._run(protocol.get_variable(name))
        if reply.result == "1":
            return reply.data or ""
        if reply.result == "0":
            return None
        raise ProtocolViolation(f"GET VARIABLE: {protocol.excerpt(reply.raw)!r}")

    async def set_variable(self, name: str, value: str) -> None:
        await self._channel_command(protocol.set_variable(name, value))

    async def queue(self, queue_name: str, timeout_s: int) -> QueueOutcome:
        line = protocol.queue(queue_name, timeout_s)
        await self._channel_command(line, timeout_s + OPERATOR_TALK_MAX_S)
        status = await self.get_variable(variables.QUEUE_STATUS)
        if status in variables.QUEUE_NOT_ANSWERED:
            return QueueOutcome.NO_ANSWER
        return QueueOutcome.ANSWERED

    async def goto(self, context: str, extension: str = "s", priority: int = 1) -> None:
        await self._channel_command(protocol.goto(context, extension, priority))

    async def hangup(self) -> None:
        # Hanging up a call that is already gone has done what was asked.
        try:
            await self._run(protocol.hangup())
        except CallerHungUp:
            pass
        self._hung_up = True

    async def log(self, message: str) -> None:
        await self._run(protocol.verbose(message))

    # --- for the server -------------------------------------------------------------

    async def send_to_fallback(self, context: str, wait_s: float) -> bool:
        """Best effort ``EXEC Goto context,s,1`` so the caller hears the fallback, not silence.

        Returns whether Asterisk confirmed it; never raises a channel error.
        """
        if self._eof or self._hung_up:
            return False
        try:
            line = protocol.goto(context, "s", 1)
            if self._garbled:
                # Asterisk still runs it; its reply can no longer be told apart.
                self._conn.write((line + "\n").encode())
                return False
            started = self._loop.time()
            async with asyncio.timeout(wait_s):
                await self._take_turn()
            try:
                left_s = max(0.0, wait_s - (self._loop.time() - started))
                reply = await self._exchange_within(line, left_s)
            finally:
                self._pass_turn()
            return reply.result == "0"
        except (CallControlError, OSError, TimeoutError, ValueError) as exc:
            logger.warning(
                "call %s: fallback to %s not confirmed: %r", self._uniqueid, context, exc
            )
            return False

    def finish(self) -> None:
        """The session is over: drop the watchdog timer rather than let it run out."""
        self._deadline = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # --- the exchange ---------------------------------------------------------------

    async def _channel_command(self, line: str, own_s: float = 0.0) -> Reply:
        """A command on the channel itself, where ``result=-1`` means the caller is gone."""
        reply = await self._run(line, own_s)
        if reply.result == "-1":
            self._hung_up = True
            raise CallerHungUp(f"hung up during {line.split(' ', 2)[0]}")
        return reply

    async def _run(self, line: str, own_s: float = 0.0) -> Reply:
        if self._busy:
            await self._take_turn()
        else:
            self._busy = True
        try:
            # _exchange_within, inlined: this is the path of every command.
            limit_s = self._timeout_s + own_s
            self._arm(limit_s)
            try:
                return await self._exchange((line + "\n").encode())
            except _Expired:
                raise CommandTimeout(
                    f"no reply within {limit_s:g} s to {protocol.excerpt(line)!r}"
                ) from None
            finally:
                self._deadline = None
        finally:
            self._pass_turn()

    async def _exchange_within(self, line: str, limit_s: float) -> Reply:
        """One exchange, holding the channel, with a reply time limit."""
        self._arm(limit_s)
        try:
            return await self._exchange((line + "\n").encode())
        except _Expired:
            raise CommandTimeout(
                f"no reply within {limit_s:g} s to {protocol.excerpt(line)!r}"
            ) from None
        finally:
            self._deadline = None

    async def _exchange(self, data: bytes) -> Reply:
        if self._garbled:
            raise ProtocolViolation("an earlier reply was garbled; the session cannot go on")
        conn = self._conn
        if self._eof or conn.is_closing():
            self._eof = self._hung_up = True
            raise CallerHungUp("AGI connection closed by Asterisk")
        conn.write(data)
        self._owed += 1
        if conn.must_drain:
            await conn.drain()  # only when the socket stopped taking bytes
        while self._owed > 1:
            await self._read_reply_lines()  # a late reply to an abandoned command
            self._owed -= 1
        # _read_reply_lines(), its usual case inlined: one line that is the reply.
        try:
            raw = await conn.readline()
        except (ConnectionEnded, LineTooLong) as exc:
            self._line_failed(exc)
        line = self._text(raw)
        if line == protocol.HANGUP_NOTICE or protocol.starts_usage(line):
            lines = await self._read_reply_lines(line)
        else:
            lines = [line]
        self._owed -= 1
        if lines[0].startswith("511"):
            self._hung_up = True
        return protocol.parse_reply(lines)

    async def _read_reply_lines(self, line: str | None = None) -> list[str]:
        """One whole reply: a HANGUP notice skipped, a 520 usage text read to its end."""
        if line is None:
            line = await self._read_line()
        while line == protocol.HANGUP_NOTICE:
            self._hung_up = True
            line = await self._read_line()
        if not protocol.starts_usage(line):
            return [line]
        lines = [line]
        while not protocol.ends_usage(line):
            if len(lines) > MAX_USAGE_LINES:
                self._garbled = True
                raise ProtocolViolation(f"520 usage text longer than {MAX_USAGE_LINES} lines")
            line = await self._read_line()
            if line != protocol.HANGUP_NOTICE:
                lines.append(line)
        return lines

    async def _read_line(self) -> str:
        try:
            raw = await self._conn.readline()
        except (ConnectionEnded, LineTooLong) as exc:
            self._line_failed(exc)
        return self._text(raw)

    def _line_failed(self, exc: ConnectionEnded | LineTooLong) -> NoReturn:
        if isinstance(exc, ConnectionEnded):
            # EOF on the AGI socket: Asterisk is gone, and so is the call.
            self._eof = self._hung_up = True
            raise CallerHungUp("AGI connection closed by Asterisk") from None
        self._garbled = True  # the rest of that line would be read as replies
        raise ProtocolViolation(f"reply line longer than {self._line_max} bytes") from None

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode() if not raw.endswith(b"\r") else raw.rstrip(b"\r").decode()
        except UnicodeDecodeError:
            pass
        text, _ = protocol.decode_line(raw)
        if not self._warned_encoding:
            self._warned_encoding = True
            logger.warning(
                "call %s: reply is not UTF-8: %r", self._uniqueid, protocol.excerpt(text)
            )
        return text

    # --- one command at a time ----------------------------------------------------------

    async def _take_turn(self) -> None:
        """Wait until the channel is free, then hold it (``_pass_turn`` gives it back)."""
        if not self._busy:
            self._busy = True
            return
        turn = self._loop.create_future()
        self._turns.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._pass_turn()  # handed the channel just as we gave up: hand it on
            raise

    def _pass_turn(self) -> None:
        while self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)  # the channel stays busy: it changed hands
                return
        self._busy = False

    # --- the watchdog -------------------------------------------------------------------

    def _arm(self, limit_s: float) -> None:
        deadline = self._loop.time() + limit_s
        self._deadline = deadline
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > deadline:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = self._loop.call_at(deadline, self._on_watchdog)

    def _on_watchdog(self) -> None:
        self._watchdog = None
        deadline = self._deadline
        if deadline is None:
            return  # no command in progress; the next one arms the watchdog again
        if deadline > self._loop.time() + _DEADLINE_SLACK_S:
            self._watchdog = self._loop.call_at(deadline, self._on_watchdog)
            return
        # If nothing is waiting, the reply is in and the command is about to return.
        self._conn.interrupt(_Expired())

"""The verbs a call flow may use, whatever carries the call.

A flow sees only this protocol. ``ivr.agi.call_control.AgiCallControl`` implements it over
FastAGI; tests may drive flows through the real server with the wire-level fake
in ``ivr.testing``. Errors are typed so a flow can tell a caller who hung up
from a broken command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

ALL_KEYS = "0123456789*#"


class CallControlError(Exception):
    """A channel command could not be carried out."""


class CallerHungUp(CallControlError):
    """The caller hung up: the channel is dead, only bookkeeping may follow."""


class CommandRejected(CallControlError):
    """Asterisk refused the command (510 unknown, 520 bad syntax)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class RecordingFailed(CallControlError):
    """Asterisk could not write the recording (``200 result=-1 (writefile)``: a full or
    read-only disk, a missing folder). The caller is still on the line."""


class CommandTimeout(CallControlError):
    """No reply to a command within the per-command time limit."""


class ProtocolViolation(CallControlError):
    """The peer sent something that is not an AGI reply."""


class RecordEnd(Enum):
    DTMF = "dtmf"  # the caller pressed an escape key
    TIMEOUT = "timeout"  # silence or the maximum length ended it
    HANGUP = "hangup"  # the caller hung up while recording


@dataclass(frozen=True, slots=True)
class RecordResult:
    ended_by: RecordEnd
    samples: int  # endpos: samples written (8 kHz for telephone audio)
    key: str | None = None


class QueueOutcome(Enum):
    ANSWERED = "answered"  # an operator took the call and it finished
    NO_ANSWER = "no_answer"  # timeout, empty queue or no one available


class CallControl(Protocol):
    """One live call, as a flow sees it."""

    @property
    def info(self) -> Mapping[str, str]:
        """The call's environment (``agi_*`` names without the prefix)."""

    @property
    def args(self) -> Mapping[str, str]:
        """Arguments from the script's query string (``report?lang=en``)."""

    async def answer(self) -> None: ...

    async def mark_step(self, step: str) -> None:
        """Say where the flow is (a channel variable); visible to Asterisk and tests."""

    async def play(self, files: str | list[str], *, keys: str = "") -> str | None:
        """Play one or more files; return the key that interrupted them, if any."""

    async def read_digits(
        self, prompt: str, *, max_digits: int, timeout_s: float
    ) -> tuple[str, bool]:
        """Play ``prompt`` and collect digits. Returns (digits, timed_out)."""

    async def record(
        self, path: str, *, max_s: int, silence_s: int, beep: bool = True, keys: str = "#"
    ) -> RecordResult:
        """Record into ``path`` + ``.wav`` (path without extension).

        Raises RecordingFailed when the file could not be written (the call goes on).
        """

    async def get_variable(self, name: str) -> str | None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def queue(self, queue_name: str, timeout_s: int) -> QueueOutcome:
        """Send the caller to an operator queue; return when the queue is done."""

    async def goto(self, context: str, extension: str = "s", priority: int = 1) -> None:
        """Continue the call in the dialplan after the flow ends."""

    async def hangup(self) -> None: ...

    async def log(self, message: str) -> None:
        """A line in Asterisk's own log (VERBOSE); works on a dead channel too."""

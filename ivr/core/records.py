"""Records and errors the core shares with the parts that implement its ports.

The store, the AMI link and the console import these from here (the core imports
nothing of theirs): a report taken by hand, a callback request and its updates, a
line's rows, and the errors that cross the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ivr.domain.roles import Intake

FINAL_RECORDING_STATES = ("kept", "abandoned", "failed")
RECORDING_STATES = ("ringing", "recording", *FINAL_RECORDING_STATES)


class StoreError(Exception):
    """The database could not carry out a write (disk full, I/O error, closed)."""


class TelephonyUnavailable(Exception):
    """No link to Asterisk to send a call through (not configured, or down)."""


class CaseError(ValueError):
    """A refused change, with a message fit to show an operator."""


@dataclass(frozen=True, slots=True)
class ManualReport:
    type_id: str
    priority: int
    channel: Intake
    summary: str
    caller: str | None = None
    zone: str | None = None
    address: str | None = None
    emergency: bool = False
    callback_minutes: int | None = None  # the type's deadline in the lines; None: settings'
    municipality: int = 1


class LineConflict(ValueError):
    """A change the store refuses: a number another line has, a slug taken, no such version."""


@dataclass(frozen=True, slots=True)
class LineRow:
    id: int
    slug: str
    flow: str
    is_default: bool
    live_version: int | None
    has_draft: bool
    draft_at: str | None
    draft_by: str | None
    municipality: int = 1


@dataclass(frozen=True, slots=True)
class VersionRow:
    line_id: int
    version: int
    document: dict[str, Any]
    document_sha: str
    published_at: str
    published_by: str
    note: str


class CallbackResult(StrEnum):
    """RINGING is the only result that is not final: queued, operator or citizen ringing.

    ANSWERED, BUSY and NO_ANSWER describe the citizen's phone. FAILED is every
    way the citizen was not reached: the operator did not pick up, the trunk or
    number failed, Asterisk refused the Originate. UNKNOWN means we cannot tell
    whether a call was placed (link lost, no response): check before retrying.
    """

    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OriginateRequest:
    """One click on "call back". A retry is a new request with a new ``action_id``."""

    action_id: str
    endpoint: str  # the operator's phone, e.g. PJSIP/1001
    number: str  # the citizen's number, digits only
    context: str  # the dialplan context that dials the citizen
    report_id: int
    caller_id_name: str  # shown on the operator's phone
    caller_id_number: str  # digits, or "" for none
    ring_timeout_s: int  # how long each phone rings: the operator's, then the citizen's
    min_digits: int = 6
    max_digits: int = 15


@dataclass(frozen=True)
class CallbackUpdate:
    action_id: str
    result: CallbackResult
    final: bool
    reason: str  # for people: "citizen busy (cause 17, User busy)"

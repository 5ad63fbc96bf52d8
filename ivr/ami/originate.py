"""An operator callback as one AMI Originate: the request, its updates, its exact headers.

The Originate rings the operator's own phone (``Channel: PJSIP/1001``). When
the operator answers, Asterisk sends that channel into the callback context
(``Context: alerta-callback``) at the citizen's number (``Exten: 5551234``),
and the dialplan dials the citizen through the trunk (dialplans/extensions.conf).

``ChannelId`` gives the operator's channel a Uniqueid we chose
(``alerta-cb-<hex>``, see ``channel_id``), so every later event about this callback
(DialBegin, DialEnd, Hangup, UserEvent) can be tied to it without waiting for
the OriginateResponse; see ivr/ami/outcome.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ivr import variables
from ivr.ami.values import (
    check_action_id,
    check_bounded_int,
    check_caller_name,
    check_context,
    check_endpoint,
    check_number,
    encode_action,
)

CHANNEL_ID_PREFIX = "alerta-cb-"
RING_VARIABLE = "ALERTA_RING_S"  # how long the dialplan lets the citizen's phone ring
USER_EVENT = "AlertaCallback"  # UserEvent(AlertaCallback,Status: ...) in the callback context
INVALID_NUMBER = "INVALIDNUMBER"  # the Status the dialplan reports when it refuses the number
MAX_RING_S = 300
MAX_REPORT_ID = 10**12


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


def channel_id(action_id: str) -> str:
    """The Uniqueid Asterisk gives the operator's channel (Originate ``ChannelId``).

    The console's action ids already carry the prefix (``alerta-cb-<hex>``):
    those are used as they are, so the channel is ``alerta-cb-<hex>`` and not
    ``alerta-cb-alerta-cb-<hex>``; any other id gets the prefix once.
    """
    if action_id.startswith(CHANNEL_ID_PREFIX):
        return action_id
    return CHANNEL_ID_PREFIX + action_id


def originate_fields(request: OriginateRequest) -> list[tuple[str, str]]:
    """The Originate's headers, in order, every value checked (``UnsafeValue`` if not)."""
    action_id = check_action_id("action_id", request.action_id)
    number = check_number(
        "number", request.number, min_digits=request.min_digits, max_digits=request.max_digits
    )
    name = check_caller_name("caller_id_name", request.caller_id_name)
    caller_id = f'"{name}"'
    if request.caller_id_number != "":
        digits = check_number(
            "caller_id_number", request.caller_id_number, min_digits=1, max_digits=20
        )
        caller_id += f" <{digits}>"
    ring_s = check_bounded_int("ring_timeout_s", request.ring_timeout_s, 1, MAX_RING_S)
    report = check_bounded_int("report_id", request.report_id, 1, MAX_REPORT_ID)
    return [
        ("Action", "Originate"),
        ("ActionID", action_id),
        ("Channel", check_endpoint("endpoint", request.endpoint)),
        ("ChannelId", channel_id(action_id)),
        ("Context", check_context("context", request.context)),
        ("Exten", number),
        ("Priority", "1"),
        ("CallerID", caller_id),
        ("Timeout", str(ring_s * 1000)),
        ("Async", "true"),
        ("Variable", f"{variables.REPORT}={report}"),
        ("Variable", f"{RING_VARIABLE}={ring_s}"),
    ]


def encode_originate(request: OriginateRequest) -> bytes:
    """The exact bytes AmiLink writes for this request."""
    return encode_action(originate_fields(request))

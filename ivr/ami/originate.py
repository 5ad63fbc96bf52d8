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
from ivr.core.records import CallbackResult as CallbackResult
from ivr.core.records import CallbackUpdate as CallbackUpdate
from ivr.core.records import OriginateRequest as OriginateRequest

CHANNEL_ID_PREFIX = "alerta-cb-"
RING_VARIABLE = "ALERTA_RING_S"  # how long the dialplan lets the citizen's phone ring
USER_EVENT = "AlertaCallback"  # UserEvent(AlertaCallback,Status: ...) in the callback context
INVALID_NUMBER = "INVALIDNUMBER"  # the Status the dialplan reports when it refuses the number
MAX_RING_S = 300
MAX_REPORT_ID = 10**12


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

"""What Asterisk 22 sends after an operator callback's Originate: event builders for FakeAmi.

Pure functions of the Originate's headers and a ``CallbackScript``, so that a
sequence can be read on its own and compared with the transcripts in
tests/fixtures/ami/ and the real captures in tests/fixtures/captures/.

The answered and the congestion sequences are those real Asterisk 22.10.1
sent with our dialplan (tests/test_captures.py compares them field by field);
the other outcomes follow the same shape. What the captures taught:

- The Originate raises events of its own for the operator's leg: ``DialBegin``,
  ``DialState`` (RINGING) and ``DialEnd`` (ANSWER) carrying only ``Dest*``
  fields, with ``DestUniqueid`` equal to the ``ChannelId`` sent. Whether
  ``OriginateResponse`` comes before or after that ``DialEnd`` varies from run
  to run (``CallbackScript.response_first``).
- The operator's channel starts in its endpoint's context (``operators``,
  extension ``s``) in language ``en`` with empty channel variables;
  ``NewCallerid`` / ``NewConnectedLine`` then set the name, ``es`` and the
  variables. Our AMI user also gets ``DeviceStateChange``, ``HangupRequest``,
  ``SoftHangupRequest`` and, once both legs are up, ``Bridge*`` events.
- A citizen leg the provider refuses (BUSY, CONGESTION, CHANUNAVAIL) gets a
  ``HangupRequest`` with the SIP code in ``TechCause`` before ``DialEnd``; Dial
  passes its cause on, so the operator's ``Hangup`` says ``Cause: 34`` after a
  congestion, not 16.
- ``UserEvent`` after ``Dial()`` fires only when Dial returns: not after an
  answered call (Dial has no ``g`` option), and not when the operator hung up.

FakeAmi inserts ``Timestamp`` after ``Privilege`` when it sends (manager.conf
sets ``timestampevents=yes``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ivr.testing.ami_transcript import parse_transcript

__all__ = ["OUTCOMES", "CallbackScript", "ChannelNumbers", "callback_events", "encode",
           "parse_transcript"]

Fields = list[tuple[str, str]]
UNIQUEID_BASE = "1795584686"
TRUNK = "provider"  # ALERTA_TRUNK in the dialplan
TRUNK_CONTEXT = "alerta-in"  # the provider endpoint's context (pjsip.conf)
OPERATOR_CONTEXT = "operators"  # the operator-phone template's context (pjsip.conf)
LANGUAGE = "es"  # both endpoint templates set language=es
USER_EVENT = "AlertaCallback"
UNKNOWN = "<unknown>"
CALLING_PRES = "0 (Presentation Allowed, Not Screened)"
# Priorities of [alerta-callback] where events are raised.
DIAL, AFTER_DIAL, HANGUP_AFTER_DIAL, INVALID, HANGUP_INVALID = 9, 10, 11, 12, 14
SOFT_HANGUP_EXPLICIT, SOFT_HANGUP_DEV = "16", "32"  # SoftHangupRequest's Cause is a flag

CAUSES = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}
STATES = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
OPERATOR_HANGUP_CAUSE = {1: 16, 3: 19, 5: 17, 8: 34}  # by OriginateResponse Reason
OPERATOR_DIAL_STATUS = {1: "CANCEL", 3: "NOANSWER", 5: "BUSY", 8: "CONGESTION"}
CITIZEN_HANGUP_CAUSE = {"BUSY": 17, "NOANSWER": 19, "CONGESTION": 34, "CHANUNAVAIL": 3}
REFUSED_BY_PROVIDER = {"BUSY": 486, "CONGESTION": 503, "CHANUNAVAIL": 404}  # the SIP answer
CITIZEN_RINGS = frozenset({"ANSWER", "NOANSWER", "CANCEL"})
DIAL_STATUSES = frozenset({"ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"})


@dataclass(frozen=True)
class CallbackScript:
    """What happens after an Originate.

    - ``operator_reason``: the OriginateResponse Reason for the operator's phone
      (4 answered, 5 busy, 3 no answer, 1 hung up before answer, 0 failed, 8
      congestion); only after 4 is the citizen dialled.
    - ``dial_status``: the citizen's DIALSTATUS; None means the dialplan refused
      the number and dialled nothing. CANCEL is the operator hanging up while
      the citizen's phone rings.
    - ``citizen_channel``: False when Dial could not even create the citizen's
      channel (trunk down): no DialBegin/DialEnd, only the UserEvent.
    - ``response_first``: the OriginateResponse before the operator leg's own
      DialEnd (as in the answered capture), else after it (the congestion one).
    - ``respond``: False never answers the Originate (an action timeout).
    - ``error``: answer ``Response: Error`` with this message instead.
    - ``events``: False queues the call and then says nothing more.
    - ``event_delay_s``: pause before each event.
    """

    operator_reason: int = 4
    dial_status: str | None = "ANSWER"
    citizen_channel: bool = True
    response_first: bool = True
    respond: bool = True
    error: str | None = None
    events: bool = True
    event_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.operator_reason not in (0, 1, 3, 4, 5, 8):
            raise ValueError(f"operator_reason {self.operator_reason} is not an Asterisk reason")
        if self.dial_status is not None and self.dial_status not in DIAL_STATUSES:
            raise ValueError(f"dial_status must be one of {sorted(DIAL_STATUSES)} or None")


OUTCOMES: dict[str, CallbackScript] = {
    "answered": CallbackScript(),
    "busy": CallbackScript(dial_status="BUSY"),
    "no_answer": CallbackScript(dial_status="NOANSWER"),
    "failed": CallbackScript(dial_status="CHANUNAVAIL"),
    "congestion": CallbackScript(dial_status="CONGESTION", response_first=False),
    "trunk_down": CallbackScript(dial_status="CHANUNAVAIL", citizen_channel=False),
    "operator_hangs_up": CallbackScript(dial_status="CANCEL"),
    "refused_number": CallbackScript(dial_status=None),
    "operator_no_answer": CallbackScript(operator_reason=3, dial_status=None),
    "operator_busy": CallbackScript(operator_reason=5, dial_status=None),
    "operator_rejects": CallbackScript(operator_reason=1, dial_status=None),
    "operator_unreachable": CallbackScript(operator_reason=0, dial_status=None),
    "operator_congestion": CallbackScript(operator_reason=8, dial_status=None),
    "no_events": CallbackScript(events=False),
    "no_response": CallbackScript(respond=False),
}


class ChannelNumbers:
    """Asterisk numbers channels in one sequence per server."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> int:
        return next(self._next)


@dataclass
class AsteriskChannel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    caller_num: str
    caller_name: str
    connected_num: str = ""
    connected_name: str = ""
    language: str = "en"
    priority: int = 1
    state: int = 0
    variables: dict[str, str] = field(default_factory=dict)

    def snapshot(self, channelvars: Sequence[str], prefix: str = "") -> Fields:
        fields = [
            ("Channel", self.name),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", STATES[self.state]),
            ("CallerIDNum", self.caller_num or UNKNOWN),
            ("CallerIDName", self.caller_name or UNKNOWN),
            ("ConnectedLineNum", self.connected_num or UNKNOWN),
            ("ConnectedLineName", self.connected_name or UNKNOWN),
            ("Language", self.language),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid),
            ("Linkedid", self.linkedid),
        ]
        fields += [("ChanVariable", f"{n}={self.variables.get(n, '')}") for n in channelvars]
        return [(prefix + key, value) for key, value in fields]


def encode(fields: Fields) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in fields) + "\r\n").encode()


def parse_caller_id(text: str) -> tuple[str, str]:
    """``"Alerta" <1234>`` → (name, number), as Asterisk's callerid parser reads it."""
    found = re.fullmatch(r'\s*"?([^"<]*?)"?\s*(?:<([^>]*)>)?\s*', text)
    return (found.group(1), found.group(2) or "") if found else (text, "")


def channel_name(requested: str, number: int) -> str:
    suffix = ";1" if requested.startswith("Local/") else ""
    return f"{requested}-{number:08x}{suffix}"


def device(requested: str) -> str:
    """The device whose state a channel changes: PJSIP/1001 for PJSIP/1001-00000001."""
    return requested.split(";")[0]


def callback_events(
    get: Callable[[str], str | None],
    variables: Sequence[str],
    script: CallbackScript,
    numbers: ChannelNumbers,
    channelvars: Sequence[str],
) -> list[Fields]:
    """The events after ``Originate successfully queued``, in the order FakeAmi sends them."""
    return _Callback(get, variables, numbers, channelvars).events(script)


class _Callback:
    """One Originate through [alerta-callback]: the operator's leg, then the citizen's."""

    def __init__(
        self,
        get: Callable[[str], str | None],
        variables: Sequence[str],
        numbers: ChannelNumbers,
        channelvars: Sequence[str],
    ) -> None:
        self.get, self.numbers, self.channelvars = get, numbers, channelvars
        self.requested = get("Channel") or ""
        self.number, self.context = get("Exten") or "", get("Context") or ""
        self.caller_name, self.caller_num = parse_caller_id(get("CallerID") or "")
        self.variables = dict(v.partition("=")[::2] for v in variables)
        serial = numbers.next()
        self.uniqueid = get("ChannelId") or f"{UNIQUEID_BASE}.{serial}"
        self.operator = AsteriskChannel(channel_name(self.requested, serial), self.uniqueid,
                                self.uniqueid, OPERATOR_CONTEXT, "s", "", "")
        self.out: list[Fields] = []

    # -- event layouts ------------------------------------------------------------------------

    def event(self, name: str, channel: AsteriskChannel | None, *extra: tuple[str, str],
              privilege: str = "call,all") -> None:
        snapshot = channel.snapshot(self.channelvars) if channel else []
        self.out.append([("Event", name), ("Privilege", privilege), *snapshot, *extra])

    def dial(
        self, name: str, dest: AsteriskChannel, last: tuple[str, str], *, own: bool = False
    ) -> None:
        """Dial* events; the Originate's own (``own``) carry the operator's leg as Dest only."""
        caller = None if own else self.operator
        self.event(name, caller, *dest.snapshot(self.channelvars, "Dest"), last)

    def device_state(self, channel: AsteriskChannel, state: str) -> None:
        name = self.requested if channel is self.operator else f"PJSIP/{TRUNK}"
        self.out.append([("Event", "DeviceStateChange"), ("Privilege", "call,all"),
                         ("Device", device(name)), ("State", state)])

    def hangup(self, channel: AsteriskChannel, cause: int, tech_cause: int | None = None) -> None:
        tech = [("TechCause", str(tech_cause))] if tech_cause else []
        self.event("Hangup", channel, ("Cause", str(cause)), ("Cause-txt", CAUSES[cause]), *tech)

    def user_event(self, status: str) -> None:
        self.operator.priority = AFTER_DIAL if status != "INVALIDNUMBER" else INVALID
        self.event("UserEvent", self.operator, ("UserEvent", USER_EVENT), ("Status", status),
                   privilege="user,all")

    def originate_response(self, reason: int, channel: AsteriskChannel | None) -> None:
        action_id = self.get("ActionID")
        fields = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
        fields += [("ActionID", action_id)] if action_id else []
        fields += [
            ("Response", "Success" if reason == 4 else "Failure"),
            ("Channel", channel.name if channel else self.requested),
            ("Context", self.context), ("Exten", self.number), ("Reason", str(reason)),
            ("Uniqueid", channel.uniqueid if channel else self.uniqueid),
            ("CallerIDNum", self.caller_num or UNKNOWN),
            ("CallerIDName", self.caller_name or UNKNOWN),
        ]
        if channel:  # channelvars, in the older per-channel form this event still uses
            fields += [(f"ChanVariable({channel.name})", f"{n}={channel.variables.get(n, '')}")
                       for n in self.channelvars]
        self.out.append(fields)

    # -- the sequences ------------------------------------------------------------------------

    def events(self, script: CallbackScript) -> list[Fields]:
        reason = script.operator_reason
        if reason == 0:  # no channel could be created for the operator's phone
            self.originate_response(0, None)
            return self.out
        self.ring_operator(script.response_first)
        if reason != 4:
            self.operator_fails(reason)
            return self.out
        self.operator_answers(script.response_first)
        status = script.dial_status
        op = self.operator
        op.context, op.exten = self.context, self.number
        if status is None:
            self.user_event("INVALIDNUMBER")
            op.priority = HANGUP_INVALID
            self.event("SoftHangupRequest", op, ("Cause", SOFT_HANGUP_EXPLICIT))
            self.hangup(op, 16)
        elif not script.citizen_channel:
            op.priority = DIAL
            self.user_event(status)
            op.priority = HANGUP_AFTER_DIAL
            self.event("SoftHangupRequest", op, ("Cause", SOFT_HANGUP_EXPLICIT))
            self.hangup(op, CITIZEN_HANGUP_CAUSE.get(status, 16))
        else:
            self.dial_citizen(status)
        self.device_state(op, "NOT_INUSE")
        return self.out

    def ring_operator(self, response_first: bool) -> None:
        """Newchannel, caller ID, the Originate's own DialBegin and DialState (RINGING)."""
        op = self.operator
        self.event("Newchannel", op)
        op.caller_num, op.caller_name = self.caller_num, self.caller_name
        op.language, op.variables = LANGUAGE, dict(self.variables)
        self.event("NewCallerid", op, ("CID-CallingPres", CALLING_PRES))
        op.connected_name = self.caller_name
        self.event("NewConnectedLine", op)
        dial_string = self.requested.partition("/")[2]
        if response_first:  # the phone's 180 Ringing came before Dial's own event
            op.state = 5
            self.event("Newstate", op)
            self.dial("DialBegin", op, ("DialString", dial_string), own=True)
        else:
            self.dial("DialBegin", op, ("DialString", dial_string), own=True)
            op.state = 5
            self.event("Newstate", op)
        self.device_state(op, "RINGING")
        self.dial("DialState", op, ("DialStatus", "RINGING"), own=True)

    def operator_fails(self, reason: int) -> None:
        op = self.operator
        self.dial("DialEnd", op, ("DialStatus", OPERATOR_DIAL_STATUS[reason]), own=True)
        self.originate_response(reason, op)
        self.hangup(op, OPERATOR_HANGUP_CAUSE[reason])
        self.device_state(op, "NOT_INUSE")

    def operator_answers(self, response_first: bool) -> None:
        op = self.operator
        op.state = 6
        self.event("Newstate", op)
        if response_first:
            self.originate_response(4, op)
            self.dial("DialEnd", op, ("DialStatus", "ANSWER"), own=True)
        else:
            self.dial("DialEnd", op, ("DialStatus", "ANSWER"), own=True)
            self.originate_response(4, op)
        self.device_state(op, "INUSE")

    def dial_citizen(self, status: str) -> None:
        op = self.operator
        op.priority = DIAL
        serial = self.numbers.next()
        citizen = AsteriskChannel(f"PJSIP/{TRUNK}-{serial:08x}", f"{UNIQUEID_BASE}.{serial}",
                          op.linkedid, TRUNK_CONTEXT, "s", "", "")
        self.event("Newchannel", citizen)
        citizen.exten, citizen.language = self.number, LANGUAGE
        citizen.caller_num, citizen.caller_name = self.number, self.caller_name
        citizen.connected_name = self.caller_name
        self.event("NewCallerid", citizen, ("CID-CallingPres", CALLING_PRES))
        self.event("NewConnectedLine", citizen)
        rings = status in CITIZEN_RINGS
        if rings:
            citizen.state = 5
            self.event("Newstate", citizen)
            self.device_state(citizen, "RINGING")
        self.dial("DialBegin", citizen, ("DialString", f"{self.number}@{TRUNK}"))
        op.connected_num = self.number
        self.event("NewConnectedLine", op)
        if rings:
            self.dial("DialState", citizen, ("DialStatus", "RINGING"))
        if status == "ANSWER":
            self.citizen_answers(citizen)
            return
        cause = CITIZEN_HANGUP_CAUSE.get(status, 16)
        tech = REFUSED_BY_PROVIDER.get(status)
        if tech:
            self.event("HangupRequest", citizen, ("Cause", str(cause)), ("TechCause", str(tech)))
        if status == "CANCEL":  # the operator hung up while the citizen's phone rang
            self.event("HangupRequest", op, ("Cause", "16"))
        self.dial("DialEnd", citizen, ("DialStatus", status))
        if status != "CANCEL":
            self.user_event(status)
            op.priority = HANGUP_AFTER_DIAL
            self.event("SoftHangupRequest", op, ("Cause", SOFT_HANGUP_EXPLICIT))
        self.hangup(citizen, cause, tech)
        if rings:
            self.device_state(citizen, "NOT_INUSE")
        self.hangup(op, cause if status != "CANCEL" else 16, tech)

    def citizen_answers(self, citizen: AsteriskChannel) -> None:
        """Both legs up and bridged; the citizen hangs up first, as in the capture."""
        op = self.operator
        citizen.state = 6
        self.event("Newstate", citizen)
        citizen.exten = ""  # the answered channel's snapshot no longer has its extension
        self.dial("DialEnd", citizen, ("DialStatus", "ANSWER"))
        bridge = [("BridgeUniqueid", f"{op.uniqueid}-bridge"), ("BridgeType", "basic"),
                  ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", UNKNOWN),
                  ("BridgeName", UNKNOWN), ("BridgeNumChannels", "0"),
                  ("BridgeVideoSourceMode", "none")]

        def bridge_event(name: str, members: int, channel: AsteriskChannel | None) -> None:
            fields = [*bridge[:5], ("BridgeNumChannels", str(members)), bridge[6]]
            snapshot = channel.snapshot(self.channelvars) if channel else []
            self.out.append([("Event", name), ("Privilege", "call,all"), *fields, *snapshot])

        bridge_event("BridgeCreate", 0, None)
        self.device_state(citizen, "INUSE")
        bridge_event("BridgeEnter", 1, citizen)
        bridge_event("BridgeEnter", 2, op)
        self.event("SoftHangupRequest", citizen, ("Cause", SOFT_HANGUP_DEV))
        bridge[2] = ("BridgeTechnology", "native_rtp")  # media went peer to peer meanwhile
        bridge_event("BridgeLeave", 1, citizen)
        bridge_event("BridgeLeave", 0, op)
        bridge_event("BridgeDestroy", 0, None)
        self.event("SoftHangupRequest", op, ("Cause", SOFT_HANGUP_EXPLICIT))
        self.hangup(citizen, 16)
        self.device_state(citizen, "NOT_INUSE")
        self.hangup(op, 16)

"""What Asterisk 22 sends after an operator callback's Originate: event builders for FakeAmi.

Pure functions of the Originate's headers and a ``CallbackScript``, so that a
sequence can be read on its own and compared with the transcripts in
tests/fixtures/ami/. Layouts follow Asterisk 22's AMI event documentation: a
channel snapshot (``Channel`` ... ``Linkedid``, then one ``ChanVariable`` line
per manager.conf ``channelvars`` name), DialBegin/DialEnd carrying a second
snapshot prefixed ``Dest``, Hangup with ``Cause`` and ``Cause-txt``,
OriginateResponse as documented (``ActionID``, ``Response``, ``Channel``,
``Context``, ``Exten``, ``Reason``, ``Uniqueid``, ``CallerIDNum``,
``CallerIDName``). FakeAmi inserts ``Timestamp`` after ``Privilege`` when it
sends (manager.conf sets ``timestampevents=yes``).

The sequence mirrors ``[alerta-callback]`` in dialplans/extensions.conf: the
operator's phone rings; if answered, the channel dials the citizen through
the trunk and, unless the operator hung up, reports ``UserEvent:
AlertaCallback`` with ``Status: ${DIALSTATUS}``; a refused number reports
``Status: INVALIDNUMBER``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Fields = list[tuple[str, str]]
UNIQUEID_BASE = "1795584686"
TRUNK = "provider"  # ALERTA_TRUNK in the dialplan
TRUNK_CONTEXT = "alerta-in"  # the provider endpoint's context (pjsip.conf)
USER_EVENT = "AlertaCallback"
UNKNOWN = "<unknown>"
# Priorities of [alerta-callback] where events are raised.
DIAL, AFTER_DIAL, HANGUP_AFTER_DIAL, INVALID, HANGUP_INVALID = 9, 10, 11, 12, 14

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
CITIZEN_HANGUP_CAUSE = {"BUSY": 17, "NOANSWER": 19, "CONGESTION": 34, "CHANUNAVAIL": 3}
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
    - ``respond``: False never answers the Originate (an action timeout).
    - ``error``: answer ``Response: Error`` with this message instead.
    - ``events``: False queues the call and then says nothing more.
    - ``event_delay_s``: pause before each event.
    """

    operator_reason: int = 4
    dial_status: str | None = "ANSWER"
    citizen_channel: bool = True
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
    "congestion": CallbackScript(dial_status="CONGESTION"),
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
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    caller_num: str
    caller_name: str
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
            ("ConnectedLineNum", UNKNOWN),
            ("ConnectedLineName", UNKNOWN),
            ("Language", "en"),
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


def callback_events(
    get: Callable[[str], str | None],
    variables: Sequence[str],
    script: CallbackScript,
    numbers: ChannelNumbers,
    channelvars: Sequence[str],
) -> list[Fields]:
    """The events after ``Originate successfully queued``, in the order FakeAmi sends them."""
    requested, number, context = get("Channel") or "", get("Exten") or "", get("Context") or ""
    caller_name, caller_num = parse_caller_id(get("CallerID") or "")
    serial = numbers.next()
    uniqueid = get("ChannelId") or f"{UNIQUEID_BASE}.{serial}"
    operator = Channel(
        channel_name(requested, serial), uniqueid, uniqueid, context, number, caller_num,
        caller_name, variables=dict(v.partition("=")[::2] for v in variables),
    )

    def event(name: str, channel: Channel, *extra: tuple[str, str]) -> Fields:
        return [("Event", name), ("Privilege", "call,all"),
                *channel.snapshot(channelvars), *extra]

    def dial(name: str, dest: Channel, last: tuple[str, str]) -> Fields:
        return [*event(name, operator), *dest.snapshot(channelvars, "Dest"), last]

    def hangup(channel: Channel, cause: int) -> Fields:
        return event("Hangup", channel, ("Cause", str(cause)), ("Cause-txt", CAUSES[cause]))

    def user_event(status: str, priority: int) -> Fields:
        operator.priority = priority
        fields = event("UserEvent", operator, ("UserEvent", USER_EVENT), ("Status", status))
        fields[1] = ("Privilege", "user,all")
        return fields

    def originate_response(reason: int, channel: Channel | None) -> Fields:
        action_id = get("ActionID")
        fields = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
        fields += [("ActionID", action_id)] if action_id else []
        fields += [
            ("Response", "Success" if reason == 4 else "Failure"),
            ("Channel", channel.name if channel else requested),
            ("Context", context), ("Exten", number), ("Reason", str(reason)),
            ("Uniqueid", channel.uniqueid if channel else uniqueid),
            ("CallerIDNum", caller_num or UNKNOWN), ("CallerIDName", caller_name or UNKNOWN),
        ]
        if channel:  # channelvars, in the older per-channel form this event still uses
            fields += [(f"ChanVariable({channel.name})", f"{n}={channel.variables.get(n, '')}")
                       for n in channelvars]
        return fields

    reason = script.operator_reason
    if reason == 0:  # no channel could be created for the operator's phone
        return [originate_response(0, None)]
    events = [event("Newchannel", operator)]
    operator.state = 5
    events.append(event("Newstate", operator))
    if reason != 4:
        cause = OPERATOR_HANGUP_CAUSE[reason]
        return [*events, originate_response(reason, operator), hangup(operator, cause)]
    operator.state = 6
    events += [event("Newstate", operator), originate_response(4, operator)]
    status = script.dial_status
    if status is None:
        events.append(user_event("INVALIDNUMBER", INVALID))
        operator.priority = HANGUP_INVALID
        return [*events, hangup(operator, 16)]
    operator.priority = DIAL
    if not script.citizen_channel:
        events.append(user_event(status, AFTER_DIAL))
        operator.priority = HANGUP_AFTER_DIAL
        return [*events, hangup(operator, 16)]
    serial = numbers.next()
    citizen = Channel(
        f"PJSIP/{TRUNK}-{serial:08x}", f"{UNIQUEID_BASE}.{serial}", operator.linkedid,
        TRUNK_CONTEXT, number, number, "",
    )
    events += [event("Newchannel", citizen),
               dial("DialBegin", citizen, ("DialString", f"{number}@{TRUNK}"))]
    if status in CITIZEN_RINGS:
        citizen.state = 5
        events.append(event("Newstate", citizen))
    if status == "ANSWER":
        citizen.state = 6
        events.append(event("Newstate", citizen))
    events.append(dial("DialEnd", citizen, ("DialStatus", status)))
    events.append(hangup(citizen, CITIZEN_HANGUP_CAUSE.get(status, 16)))
    if status not in ("ANSWER", "CANCEL"):  # after those the dialplan does not go on
        events.append(user_event(status, AFTER_DIAL))
        operator.priority = HANGUP_AFTER_DIAL
    return [*events, hangup(operator, 16)]


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

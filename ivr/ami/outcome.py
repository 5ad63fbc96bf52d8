"""What became of a callback, read from AMI events: a pure state machine per Originate.

Asterisk 22 reports a callback in events of the ``call`` and ``user`` classes
(asterisk_conf/manager.conf gives our user ``read=call,agent,user``):

- ``OriginateResponse`` (carries our ActionID): the *operator's* phone.
  ``Reason: 4`` means the operator answered and the channel went into the
  callback context; any other reason (0 failed, 1 hung up before answering,
  3 no answer, 5 busy, 8 congestion) ends the callback as FAILED: the citizen
  was never dialled.
- ``DialBegin`` / ``DialEnd`` whose ``Uniqueid`` is the operator's channel (we
  set it with Originate ``ChannelId``): the *citizen's* phone. ``DialStatus:
  ANSWER`` ends the callback as ANSWERED at once; BUSY, NOANSWER, CANCEL (the
  operator hung up while it rang), CONGESTION and CHANUNAVAIL end it once the
  citizen's channel has hung up (so its ``Cause`` can be shown), or at the
  next event below, whichever comes first.
- ``UserEvent: AlertaCallback`` with ``Status: ${DIALSTATUS}``, sent by the
  callback context after ``Dial()``, or ``Status: INVALIDNUMBER`` when it
  refuses the number. It covers the case where Dial could not even create the
  citizen's channel, in which Asterisk sends no DialBegin/DialEnd at all; when
  there was a citizen's channel, its Hangup (which real Asterisk sends after
  the UserEvent) ends the callback with its cause.
- The Originate's own ``DialBegin`` / ``DialState`` / ``DialEnd`` for the
  operator's phone carry only ``Dest*`` fields (``DestUniqueid`` is our
  ``ChannelId``) and no ``Uniqueid``: they are not the citizen's, and are
  ignored; ``OriginateResponse`` says what became of the operator's phone.
- ``Hangup`` of the operator's channel: ends whatever is still open, with its
  ``Cause`` / ``Cause-txt``.

Events may interleave differently from one call to the next (the
OriginateResponse is raised by another thread than the dialplan's, so it may
come before or after DialBegin); each rule above holds whatever the order.
Once final, a tracker ignores everything; a final update is produced once.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.ami.originate import INVALID_NUMBER, USER_EVENT, CallbackResult, CallbackUpdate

ANSWERED_REASON = 4
OPERATOR_REASONS = {
    0: "failed: unknown or unreachable endpoint",
    1: "hung up before answering",
    3: "rang without an answer",
    5: "was busy",
    8: "hit congestion",
}
DIAL_STATUSES: dict[str, tuple[CallbackResult, str]] = {
    "ANSWER": (CallbackResult.ANSWERED, "citizen answered"),
    "BUSY": (CallbackResult.BUSY, "citizen busy"),
    "NOANSWER": (CallbackResult.NO_ANSWER, "citizen did not answer"),
    "CANCEL": (CallbackResult.FAILED, "the operator hung up while the citizen's phone rang"),
    "CONGESTION": (CallbackResult.FAILED, "congestion on the way to the citizen"),
    "CHANUNAVAIL": (CallbackResult.FAILED, "the citizen's number could not be reached"),
}
Event = Mapping[str, str]  # header names lower-cased, one value each


def normalize(headers: Mapping[str, object]) -> dict[str, str]:
    """An AMI message as this module reads it: lower-case keys, the first value of each."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        first = value[0] if isinstance(value, list) and value else value
        out.setdefault(str(key).lower(), str(first))
    return out


def _cause(event: Event) -> str:
    code, text = event.get("cause", "?"), event.get("cause-txt", "")
    return f"cause {code}, {text}" if text else f"cause {code}"


class CallbackTracker:
    """Feed it every event; it answers with the updates they make (at most one final)."""

    def __init__(self, action_id: str, channel_id: str) -> None:
        self.action_id = action_id
        self.channel_id = channel_id
        self.final: CallbackUpdate | None = None
        self.operator_answered = False
        self.citizen_channel: str | None = None  # the citizen's Uniqueid, from DialBegin
        self.dial_status: str | None = None
        self.citizen_cause: str | None = None

    def feed(self, event: Event) -> list[CallbackUpdate]:
        if self.final is not None:
            return []
        name = event.get("event", "")
        uniqueid = event.get("uniqueid", "")
        if name == "OriginateResponse" and event.get("actionid") == self.action_id:
            return self._originate_response(event)
        if uniqueid == self.channel_id:
            return self._operator_channel(name, event)
        if name == "Hangup" and uniqueid and uniqueid == self.citizen_channel:
            self.citizen_cause = _cause(event)
            return self._dial_over() if self.dial_status else []
        return []

    def give_up(self, reason: str) -> list[CallbackUpdate]:
        """Close the callback as UNKNOWN (link lost, stopped, no outcome in time)."""
        return self._finish(CallbackResult.UNKNOWN, reason)

    # -- the rules --------------------------------------------------------------------

    def _originate_response(self, event: Event) -> list[CallbackUpdate]:
        reason = event.get("reason", "")
        if reason == str(ANSWERED_REASON):
            return self._operator_answers()
        text = OPERATOR_REASONS.get(int(reason) if reason.isdigit() else -1, "failed")
        return self._finish(CallbackResult.FAILED, f"operator phone {text} (reason {reason})")

    def _operator_channel(self, name: str, event: Event) -> list[CallbackUpdate]:
        if name == "DialBegin":
            self.citizen_channel = event.get("destuniqueid") or None
            return self._operator_answers()
        if name == "DialEnd":
            status = event.get("dialstatus", "")
            if status == "ANSWER":
                return self._finish(CallbackResult.ANSWERED, "citizen answered")
            self.dial_status = status
            return self._dial_over() if self.citizen_cause else []
        if name == "UserEvent" and event.get("userevent") == USER_EVENT:
            status = event.get("status", "")
            if status == INVALID_NUMBER:
                return self._finish(
                    CallbackResult.FAILED, "the dialplan refused the number; nothing was dialled"
                )
            self.dial_status = self.dial_status or status
            if self.citizen_channel and not self.citizen_cause:
                return []  # the citizen's Hangup follows (real Asterisk: after this event)
            return self._dial_over()
        if name == "Hangup":
            if self.dial_status:
                return self._dial_over()
            if self.operator_answered:
                return self._finish(
                    CallbackResult.FAILED,
                    f"the call ended before the citizen was dialled ({_cause(event)})",
                )
            return self._finish(
                CallbackResult.FAILED, f"operator phone hung up before answering ({_cause(event)})"
            )
        return []

    def _operator_answers(self) -> list[CallbackUpdate]:
        if self.operator_answered:
            return []
        self.operator_answered = True
        calling = "operator answered; calling the citizen"
        return [CallbackUpdate(self.action_id, CallbackResult.RINGING, False, calling)]

    def _dial_over(self) -> list[CallbackUpdate]:
        status = self.dial_status or ""
        result, text = DIAL_STATUSES.get(
            status, (CallbackResult.FAILED, f"dialling the citizen ended with {status or '?'}")
        )
        if self.citizen_cause:
            text += f" ({self.citizen_cause})"
        return self._finish(result, text)

    def _finish(self, result: CallbackResult, reason: str) -> list[CallbackUpdate]:
        if self.final is not None:
            return []
        self.final = CallbackUpdate(self.action_id, result, True, reason)
        return [self.final]

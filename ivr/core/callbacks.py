"""Use case: an operator calls a citizen back; the operator's own phone rings first.

One request is one call: the attempt is written, unique on the request key, before
anything is sent, so a double click, a resubmitted form or a retried request finds
the same attempt. The Originate goes through an ``Originator`` (the AMI link); every
update Asterisk sends about it lands in the attempt's history (``record_update``).
Transports call this; it knows no HTTP.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.core.records import CallbackUpdate, OriginateRequest, TelephonyUnavailable
from ivr.domain.numbers import valid_phone

logger = logging.getLogger(__name__)

RESULT_TO_STATE = {
    "ringing": "ringing", "answered": "answered", "busy": "busy", "no_answer": "no_answer",
    "failed": "failed", "unknown": "unknown",
}


class CallbackRefused(ValueError):
    """The request cannot become a call; the message says why, for the operator."""


class TelephonyDown(RuntimeError):
    """No link to Asterisk to send the call through (not configured, or down)."""


class Originator(Protocol):
    async def originate(self, request: OriginateRequest) -> CallbackUpdate: ...


class CallbackBook(Protocol):
    async def start_callback(self, report: int, *, request_key: str, action_id: str, actor: str,
                             endpoint: str, number: str) -> tuple[Any, bool]: ...

    async def update_callback(self, action_id: str, state: str, reason: str) -> Any: ...


class ReportLookup(Protocol):
    async def report(self, report: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    context: str = "alerta-callback"
    operator_channel: str = "PJSIP/{extension}"
    caller_id_name: str = "Alerta"
    ring_timeout_s: int = 30
    min_digits: int = 6
    max_digits: int = 15


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    report: int
    action_id: str
    state: str
    reason: str


class CallbackDesk:
    def __init__(self, book: CallbackBook, reports: ReportLookup, originator: Originator | None,
                 settings: CallbackSettings) -> None:
        self.book = book
        self.reports = reports
        self.originator = originator
        self.settings = settings

    async def call_back(self, report: int, *, request_key: str, number: str | None,
                        extension: str | None, actor: str) -> CallbackOutcome:
        """Place the call (or find the one this request already placed)."""
        s = self.settings
        if not (16 <= len(request_key) <= 64) or not request_key.replace("-", "").replace(
                "_", "").isalnum():
            raise CallbackRefused("the form is stale; reload the page")
        found = await self.reports.report(report)
        if found is None:
            raise LookupError("no such report")
        wanted = str(number or found["caller"] or "").strip()
        if not extension:
            raise CallbackRefused(
                "your account has no phone extension; ask an administrator to set one")
        if not valid_phone(wanted, s.min_digits, s.max_digits):
            raise CallbackRefused(f"the number must be {s.min_digits} to {s.max_digits} digits")
        endpoint = s.operator_channel.format(extension=extension)
        if self.originator is None:
            raise TelephonyDown("callbacks are off: no AMI secret is configured")
        action_id = f"alerta-cb-{secrets.token_hex(8)}"
        row, created = await self.book.start_callback(
            report, request_key=request_key, action_id=action_id, actor=actor,
            endpoint=endpoint, number=wanted)
        if not created:  # the same request again: the attempt already made
            return CallbackOutcome(report, row["action_id"], row["state"], "already placed")
        try:
            update = await self.originator.originate(OriginateRequest(
                action_id=action_id, endpoint=endpoint, number=wanted, context=s.context,
                report_id=report, caller_id_name=s.caller_id_name, caller_id_number="",
                ring_timeout_s=s.ring_timeout_s, min_digits=s.min_digits,
                max_digits=s.max_digits))
        except TelephonyUnavailable as exc:
            await self.book.update_callback(action_id, "failed", f"not sent: {exc}")
            raise TelephonyDown(f"telephony link is down: {exc}") from exc
        except ValueError as exc:  # a value the link would not send (its checks are strict)
            await self.book.update_callback(action_id, "failed", f"refused: {exc}")
            raise CallbackRefused(str(exc)) from exc
        state = RESULT_TO_STATE.get(update.result.value, "unknown")
        await self.book.update_callback(action_id, state, update.reason)
        return CallbackOutcome(report, action_id, state, update.reason)

    async def record_update(self, update: CallbackUpdate) -> None:
        """An update Asterisk sent later (ringing, answered, busy...); never raises."""
        state = RESULT_TO_STATE.get(update.result.value, "unknown")
        try:
            await self.book.update_callback(update.action_id, state, update.reason)
        except Exception:
            logger.exception("callback %s: could not record %s", update.action_id, state)

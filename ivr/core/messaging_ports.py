"""What the messaging use cases need from an SMS gateway and a mail server.

The outbox (``ivr.store.outbox``) holds every message until a sender has handed it over;
a sender tells which of three things happened, and the outbox does the rest:

- ``sent``: the gateway or server took it (``gateway_ref`` names it there, if it says);
- ``retry``: it did not take it and may later (down, slow, busy, 4xx): tried again
  with backoff, never lost;
- ``refused``: it never will (bad number or address, 5xx, bad credentials are *not*
  this: those are the deployment's fault and retried, so an admin can fix them).

Transports (``ivr.messaging``) implement these; use cases never import a transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from ivr.core.records import ManualReport
from ivr.domain.alerting import Message
from ivr.domain.notices import Context, Plan

Outcome = Literal["sent", "retry", "refused"]


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""  # for the log, the supervision page and the history: short, no secrets
    gateway_ref: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    message_id: int  # the outbox row: delivery reports come back naming it
    to: str  # digits, international or national as the gateway expects
    text: str
    sender: str | None = None  # the municipality's SMS number; None: the gateway's default


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    message_id: int
    to: str
    subject: str
    body: str
    sender: str | None = None  # None: the configured From address


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The gateway's later word on a message it took."""

    message_id: int
    delivered: bool  # False: the network gave up on it
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """A text a citizen sent to a municipality's number."""

    sender: str  # the citizen's number, digits only
    to: str  # the municipality's number it was sent to, digits only
    text: str
    gateway_ref: str | None = None  # the gateway's id, so a resent one is seen once


class SmsGateway(Protocol):
    async def send(self, sms: OutgoingSms) -> SendResult: ...


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a sender has taken from the outbox to send (``ivr.store.outbox``)."""

    id: int
    channel: str
    recipient: str
    report_id: int | None
    municipality: int | None
    purpose: str
    subject: str
    body: str
    attempts: int
    place: str = ""  # the municipality's name
    members: tuple[tuple[int | None, str], ...] = ()  # grouped in: (report, body) each
    urgent: bool = False
    sender: str | None = None  # the municipality's SMS number; None: the gateway's default


class OutboxPort(Protocol):
    on_commit: list[Callable[[], None]]  # called after each commit (the sender wakes)

    async def due(self, now: datetime, *, lease_s: float = 120.0,
                  channels: tuple[str, ...] = ("sms", "email")) -> bool: ...

    async def claim(self, owner: str, now: datetime, *, limit: int = 20,
                    lease_s: float = 120.0, channels: tuple[str, ...] = ("sms", "email")
                    ) -> list[Claimed]: ...

    async def settle_many(self, results: list[tuple[Claimed, SendResult]], now: datetime
                          ) -> None: ...

    async def hurry(self, channel: str, now: datetime) -> int: ...

    async def delivery_report(self, message: int, delivered: bool, detail: str,
                              now: datetime) -> bool: ...


Planner = Callable[[Context], Plan]


class AlertFeed(Protocol):
    """The notifier's store: each call one transaction (``ivr.store.alert_feed``)."""

    on_commit: list[Callable[[], None]]

    async def lag(self) -> int: ...

    async def advance(self, planner: Planner, now: datetime, *,
                      kinds: frozenset[str] | None = None) -> tuple[int, int]: ...

    async def escalations_due(self, now: datetime) -> bool: ...

    async def escalate(self, planner: Planner, now: datetime) -> int: ...

    async def announce_overdue(self, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Handling:
    """What to do with one incoming text (``ivr.core.texts`` decides, the store does it in
    one transaction)."""

    outcome: str  # report | status | refused | stop | start | unknown | limited
    reply: Callable[[int | None], Message | None]  # the reply, given the report (if any)
    report: ManualReport | None = None  # to open
    language: str | None = None
    asked: int | None = None  # status: the report asked about, when it exists
    optout: bool | None = None  # True: STOP, False: START


class TextBook(Protocol):
    async def seen(self, ref: str | None) -> bool: ...
    async def municipality_for(self, number: str) -> tuple[int, str] | None: ...
    async def reports_from(self, sender: str, since: datetime) -> int: ...
    async def report_of(self, report: int) -> tuple[str, str | None, str | None] | None: ...
    async def handle(self, sms: IncomingSms, municipality: int | None, what: Handling,
                     now: datetime) -> tuple[bool, int | None]: ...

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

from dataclasses import dataclass
from typing import Literal, Protocol

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

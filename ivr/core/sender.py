"""Use case: hand the outbox's due messages to the SMS gateway and the mail server.

Each controller runs one sender; they share the outbox (claims are leased, so two
senders never take one row). A burst claimed as one group is written here as one
message (``grouped_text``). What the gateway answers is recorded on the row and the
report's history: sent, refused for good, or to retry with backoff. A gateway that is
down holds no message back from the other channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from ivr.core.messaging_ports import (
    Claimed,
    Mailer,
    OutboxPort,
    OutgoingMail,
    OutgoingSms,
    SendResult,
    SmsGateway,
)
from ivr.core.records import StoreError
from ivr.domain.alerting import grouped_text
from ivr.domain.municipalities import number_of

logger = logging.getLogger(__name__)


class Sender:
    def __init__(self, outbox: OutboxPort, owner: str, clock: Callable[[], datetime], *,
                 sms: SmsGateway | None, mail: Mailer | None,
                 on_result: Callable[[str, str], None] = lambda channel, outcome: None,
                 tick_s: float = 1.0, batch: int = 50, lease_s: float = 120.0) -> None:
        self.outbox = outbox
        self.on_result = on_result
        self.owner = owner
        self.clock = clock
        self.sms = sms
        self.mail = mail
        self.tick_s = tick_s
        self.batch = batch
        self.lease_s = lease_s
        self.channels = tuple(c for c, t in (("sms", sms), ("email", mail)) if t is not None)
        self.counts: dict[tuple[str, str], int] = {}  # (channel, outcome) → messages
        self.failing: set[str] = set()  # channels whose last try was a retry
        self._changed = asyncio.Event()

    def _body(self, message: Claimed) -> str:
        if not message.members:
            return message.body
        cause = message.purpose.removeprefix("alert.")
        numbers = sorted({number_of(r) for r, _ in message.members if r is not None})
        return grouped_text(cause, "es", message.place, numbers,
                            len(message.members))

    async def _send(self, message: Claimed) -> SendResult:
        body = self._body(message)
        try:
            if message.channel == "sms" and self.sms is not None:
                return await self.sms.send(OutgoingSms(message.id, message.recipient, body,
                                                       message.sender))
            if message.channel == "email" and self.mail is not None:
                subject = message.subject or body[:78]
                if message.members:
                    subject = f"[Alerta] {body[:70]}"
                return await self.mail.send(OutgoingMail(message.id, message.recipient,
                                                         subject, body))
        except Exception as exc:  # a transport's own bug must not lose the message
            logger.exception("sender: %s transport failed on message %d", message.channel,
                             message.id)
            return SendResult("retry", f"transport error: {type(exc).__name__}")
        return SendResult("retry", f"no {message.channel} transport configured")

    async def send_due(self) -> int:
        """Claim and send what is due now; returns how many messages were tried."""
        if not self.channels or not await self.outbox.due(
                self.clock(), lease_s=self.lease_s, channels=self.channels):
            return 0
        claimed = await self.outbox.claim(self.owner, self.clock(), limit=self.batch,
                                          lease_s=self.lease_s, channels=self.channels)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(m) for m in claimed))
        for message, result in zip(claimed, results, strict=True):
            key = (message.channel, result.outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.on_result(*key)
            if result.outcome != "sent":
                logger.warning("sender: %s message %d (%s) %s: %s", message.channel,
                               message.id, message.purpose, result.outcome, result.detail)
        await self.outbox.settle_many(list(zip(claimed, results, strict=True)), self.clock())
        for channel in {m.channel for m in claimed}:
            outcomes = {r.outcome for m, r in zip(claimed, results, strict=True)
                        if m.channel == channel}
            if "sent" in outcomes and channel in self.failing:
                self.failing.discard(channel)
                hurried = await self.outbox.hurry(channel, self.clock())
                logger.info("sender: %s gateway takes messages again; %d waiting go now",
                            channel, hurried)
            elif "retry" in outcomes and "sent" not in outcomes:
                self.failing.add(channel)
        return len(claimed)

    async def run(self) -> None:
        self.outbox.on_commit.append(self._changed.set)
        try:
            while True:
                self._changed.clear()
                try:
                    while await self.send_due() >= self.batch:
                        pass
                except (StoreError, OSError) as exc:
                    logger.warning("sender: store unavailable, trying again: %s", exc)
                    await asyncio.sleep(5)
                except Exception:
                    logger.exception("sender: failed; trying again")
                    await asyncio.sleep(5)
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
                # as the event is set, and the task then never stops (a hang at shutdown)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.tick_s):
                        await self._changed.wait()
        finally:
            with contextlib.suppress(ValueError):
                self.outbox.on_commit.remove(self._changed.set)

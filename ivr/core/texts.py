"""Use case: a citizen's text to a municipality's number (``ivr.domain.texting`` says
what it asks). It opens a report through the same intake rules as every other channel
(``ReportIntake.check``, channel ``sms``), answers a status only to the number that made
the report, keeps STOP, and always replies through the outbox, in the same transaction
as what the text did (``ivr.store.texts``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ivr.core.intake import Entry, IntakeRefused, ReportIntake
from ivr.core.messaging_ports import Handling, IncomingSms, TextBook
from ivr.domain import texting
from ivr.domain.alerting import Message
from ivr.domain.municipalities import RANGE, number_of, report_id
from ivr.domain.roles import Intake

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TextLineSettings:
    reports_per_hour: int = 5  # a number opening more is answered, not filed (a flood)
    language: str = "es"  # replies to a text, until the citizen's language is known
    country_code: str = "51"  # taken off senders' numbers, as callers' are stored


class TextLine:
    def __init__(self, store: TextBook, intake: ReportIntake,
                 keys: Callable[[int], Awaitable[Mapping[str, str]]],
                 clock: Callable[[], datetime], cfg: TextLineSettings = TextLineSettings()
                 ) -> None:
        self.store = store
        self.intake = intake
        self.keys = keys
        self.clock = clock
        self.cfg = cfg

    async def receive(self, sms: IncomingSms) -> str:
        """Handle one incoming text; returns its outcome (for the log and the tests)."""
        if await self.store.seen(sms.gateway_ref):
            return "repeated"
        sms = replace(sms, sender=texting.national(sms.sender, self.cfg.country_code))
        now = self.clock()
        place = await self.store.municipality_for(sms.to)
        if place is None:
            logger.warning("texts: a text to %s, which is no municipality's number", sms.to)
            await self.store.handle(sms, None, Handling("unknown", lambda _r: None), now)
            return "unknown"
        municipality, name = place
        what = await self._decide(sms, municipality, name, now)
        handled, report = await self.store.handle(sms, municipality, what, now)
        if not handled:
            return "repeated"
        logger.info("texts: from …%s to municipality %d: %s%s", sms.sender[-4:], municipality,
                    what.outcome, f" (report {report})" if report else "")
        return what.outcome

    async def _decide(self, sms: IncomingSms, municipality: int, name: str,
                      now: datetime) -> Handling:
        lang = self.cfg.language
        types = list(await self.intake.types(municipality))
        keys = await self.keys(municipality)
        request = texting.read(sms.text, types, keys)

        def reply(what: str, **values: object) -> Callable[[int | None], Message | None]:
            def make(report: int | None) -> Message:
                body = texting.say(what, lang, name, **{
                    k: (number_of(report) if v is _REPORT and report else v)
                    for k, v in values.items()})
                return Message("sms", sms.sender, f"citizen.{what}", body, now, municipality,
                               report_id=report, dedup_key=None)
            return make

        if request.kind == "stop":
            return Handling("stop", reply("stop"), optout=True)
        if request.kind == "start":
            return Handling("start", reply("start"), optout=False)
        if request.kind == "status":
            if request.number is None or not 1 <= request.number < RANGE:
                return Handling("refused", reply("status_how"))
            asked = report_id(municipality, request.number)
            found = await self.store.report_of(asked)
            if found is None:
                return Handling("refused", reply("not_yours", n=request.number))
            state, caller, language = found
            if caller != sms.sender:  # told to the number that made it, to no one else
                return Handling("refused", reply("not_yours", n=request.number), asked=asked)
            lang = language or lang
            return Handling("status", reply("status", n=request.number, s=state), asked=asked)
        if request.kind == "empty":
            return Handling("refused", reply("which_type", o=texting.type_menu(types, keys,
                                                                               lang)))
        if await self.store.reports_from(sms.sender, now - timedelta(hours=1)) >= (
                self.cfg.reports_per_hour):
            return Handling("limited", reply("refused"))
        if request.type_id is None:
            return Handling("refused", reply("which_type", o=texting.type_menu(types, keys,
                                                                               lang)))
        try:
            report = await self.intake.check(
                Entry(type_id=request.type_id, channel=Intake.SMS.value,
                      summary=request.summary, caller=sms.sender),
                municipality, channels=(Intake.SMS,))
        except IntakeRefused as exc:
            logger.warning("texts: a text from …%s refused: %s", sms.sender[-4:], exc)
            return Handling("refused", reply("refused"))
        label = next((t.label(lang, "es") for t in types if t.id == report.type_id),
                     report.type_id)
        return Handling("report", reply("opened", n=_REPORT, t=texting.plain(label.lower())),
                        report=report, language=lang)


_REPORT = object()  # in a reply's values: the number of the report the text opened

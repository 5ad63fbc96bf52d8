"""Use cases: citizens' complaints, suggestions and queries with a legal deadline.

A case is opened by a participation call (``open_case``, the flow's ``CaseBook``), at the
counter, from an e-mail or through Open311 (``enter``); its deadline is business days on
the municipality's calendar (Peru's holidays and its own non-working days), counted from
the day after its local date of receipt. An officer of its area, or a supervisor, answers
it (spoken into a clip the status line plays when speech is installed), closes it; a
supervisor reopens it. The sweep warns near the deadline and raises ``alert.case_overdue``
the day after it. Who may act on which case is decided here, not in views.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ivr.core.case_rules import (
    AreaMonth,
    CaseRefused,
    Officer,
    may_act,
    month_span,
    monthly_areas,
    written_case,
)
from ivr.core.ports import (
    CaseAdminShelf,
    CaseReceipt,
    CaseShelf,
    CaseStatus,
    NewCase,
    NewReport,
)
from ivr.domain.business_days import Calendar, due_date
from ivr.domain.lines import LineConfig
from ivr.domain.roles import Role

__all__ = ["AreaMonth", "CaseRefused", "Officer", "Participation", "ParticipationSettings"]

logger = logging.getLogger(__name__)

Lines = Callable[[int], Awaitable[list[LineConfig]]]  # a municipality's live participation lines
ZoneOf = Callable[[int], Awaitable[str]]  # a municipality's time zone name
# (text, language, report) → the answer spoken, relative to the clips folder; None: no speech
Speaker = Callable[[str, str, int], Awaitable[str | None]]
ANSWER_MAX = 4000
READ_WAIT_S = 2.0  # a call waits no longer for the calendar or the time zone


@dataclass(frozen=True, slots=True)
class ParticipationSettings:
    days: Mapping[str, int] = field(default_factory=lambda: {
        "complaint": 30, "suggestion": 30, "query": 10})  # kinds a line gives no days
    near_days: int = 3  # business days before the due date a case is warned of
    country: str = "PE"
    subdivision: str | None = None
    status_line: str = "1235"  # where a citizen hears the answer (their text says so)


class Participation:
    """``ivr.core.ports.CaseBook`` for the flow, and the console's and Open311's cases."""

    def __init__(self, cases: CaseShelf, admin: CaseAdminShelf, lines: Lines, zone_of: ZoneOf,
                 clock: Callable[[], datetime],
                 settings: ParticipationSettings | None = None, *,
                 speaker: Speaker | None = None, clips: Path | None = None) -> None:
        self.cases = cases
        self.admin = admin
        self.lines = lines
        self.zone_of = zone_of
        self.clock = clock
        self.settings = settings or ParticipationSettings()
        self.speaker = speaker
        self.clips = clips  # the folder the speaker's paths are relative to
        # Last read of each municipality's calendar and zone: a call whose store is away
        # still gets a due date (the national holidays at least).
        self._calendars: dict[int, Calendar] = {}
        self._zones: dict[int, str] = {}
        self._national = Calendar(self.settings.country, self.settings.subdivision)

    # --- the calendar and the local date ------------------------------------------

    async def calendar(self, municipality: int) -> Calendar:
        days = await self.admin.non_working_days(municipality)
        found = Calendar(self.settings.country, self.settings.subdivision,
                         {date.fromisoformat(d["day"]): d["name"] for d in days})
        self._calendars[municipality] = found
        return found

    async def today(self, municipality: int, now: datetime | None = None) -> date:
        zone = self._zones.get(municipality)
        if zone is None:
            zone = self._zones[municipality] = await self.zone_of(municipality)
        return (now or self.clock()).astimezone(ZoneInfo(zone)).date()

    async def _calendar_for_call(self, municipality: int) -> tuple[Calendar, date]:
        """The calendar and local date, from what was read last when the store is slow."""
        try:
            async with asyncio.timeout(READ_WAIT_S):
                return await self.calendar(municipality), await self.today(municipality)
        except Exception as exc:  # the store away: a caller is not kept waiting for it
            logger.warning("participation: calendar of %d not read (%s); using the last one",
                           municipality, exc)
        zone = self._zones.get(municipality, "America/Lima")
        return (self._calendars.get(municipality, self._national),
                self.clock().astimezone(ZoneInfo(zone)).date())

    def default_days(self, kind: str) -> int | None:
        return self.settings.days.get(kind)

    def days_for(self, line: LineConfig, kind: str, area: str) -> int | None:
        return line.answer_days(kind, area) or self.default_days(kind)

    # --- the flow's CaseBook --------------------------------------------------------

    async def open_case(self, new: NewReport, *, kind: str, area: str,
                        business_days: int) -> CaseReceipt:
        calendar, today = await self._calendar_for_call(new.municipality)
        due = due_date(today, business_days, calendar)
        number = await self.cases.open(new, NewCase(
            kind=kind, area=area, intake="ivr", received_on=today,
            business_days=business_days, due_on=due,
            area_name=await self._area_name(new.municipality, area, new.language)))
        return CaseReceipt(number, due)

    async def case_status(self, report: int) -> CaseStatus | None:
        case = await self.cases.case(report)
        if case is None:
            return None
        due = date.fromisoformat(case["due_on"])
        audio = None
        if case["answer_audio"] and self.clips is not None:
            audio = (self.clips / case["answer_audio"]).with_suffix("")
        today = await self.today(int(case["municipality_id"]))
        return CaseStatus(
            case["state"], due,
            date.fromisoformat(case["answered_on"]) if case["answered_on"] else None,
            audio, overdue=case["state"] == "open" and today > due)

    async def _area_name(self, municipality: int, area: str, language: str) -> str:
        try:
            async with asyncio.timeout(READ_WAIT_S):
                lines = await self.lines(municipality)
        except Exception:
            return ""
        for line in lines:
            found = line.area(area)
            if found is not None:
                return found.label(language, line.languages[0] if line.languages else "es")
        return ""

    # --- entered by hand or by a website -------------------------------------------

    async def enter(self, *, municipality: int, kind: str, area: str, intake: str,
                    subject: str, caller: str | None, contact_name: str | None,
                    contact_email: str | None, actor: str, api_key_id: int | None = None,
                    language: str = "es") -> CaseReceipt:
        """A case from the counter, an e-mail or Open311; CaseRefused says why not."""
        lines = await self.lines(municipality)
        case, line = written_case(lines, kind=kind, area=area, intake=intake,
                                  subject=subject, caller=caller, contact_name=contact_name,
                                  contact_email=contact_email)
        days = self.days_for(line, kind, area)
        if days is None:
            raise CaseRefused("this kind of case has no deadline set")
        today = await self.today(municipality)
        due = due_date(today, days, await self.calendar(municipality))
        found, kind_of = line.area(area), line.type(kind)
        new = NewReport(
            type_id=kind, priority=kind_of.priority if kind_of is not None else 5,
            emergency=False, language=language, call_id="", caller_id_raw=None,
            caller=case.caller, municipality=municipality, line=line.slug)
        number = await self.cases.open(new, NewCase(
            kind=kind, area=area, intake=intake, received_on=today, business_days=days,
            due_on=due, subject=case.subject, contact_name=case.contact_name,
            contact_email=case.contact_email, api_key_id=api_key_id,
            area_name=found.label(language, line.languages[0]) if found else ""), actor=actor)
        return CaseReceipt(number, due)

    # --- answer, close, reopen -------------------------------------------------------

    async def _case_for(self, report: int, actor: str | Officer,
                        needed: Role = Role.OFFICER) -> tuple[dict[str, Any], str]:
        case = await self.cases.case(report)
        if case is None:
            raise CaseRefused("no such case")
        who = may_act(actor, case, needed)
        return case, who

    async def answer(self, report: int, *, text: str, actor: str | Officer,
                     speak: bool = True) -> None:
        case, who = await self._case_for(report, actor)
        text = (text or "").strip()
        if not text:
            raise CaseRefused("write the answer")
        if len(text) > ANSWER_MAX or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text):
            raise CaseRefused(f"an answer is up to {ANSWER_MAX} characters of text")
        if case["state"] != "open":
            raise CaseRefused("only an open case is answered")
        audio = None
        if speak and self.speaker is not None:
            audio = await self.speaker(text, case["language"] or "es", report)
        today = await self.today(int(case["municipality_id"]))
        due = date.fromisoformat(case["due_on"])
        if not await self.cases.answer(
                report, text=text, audio=audio, answered_on=today, actor=who,
                moment=self.clock(), data={"on_time": today <= due, "spoken": audio is not None,
                                           "answered_on": today.isoformat(),
                                           "status_line": self.settings.status_line}):
            raise CaseRefused("only an open case is answered")

    async def close(self, report: int, *, actor: str | Officer) -> None:
        case, who = await self._case_for(report, actor)
        if case["state"] != "answered" or not await self.cases.close(
                report, actor=who, moment=self.clock()):
            raise CaseRefused("only an answered case is closed")

    async def reopen(self, report: int, *, actor: str | Officer, reason: str) -> None:
        case, who = await self._case_for(report, actor, Role.SUPERVISOR)
        reason = " ".join((reason or "").split())[:500]
        if not reason:
            raise CaseRefused("give the reason")
        if case["state"] == "open" or not await self.cases.reopen(
                report, actor=who, reason=reason, moment=self.clock()):
            raise CaseRefused("the case is open already")

    # --- the sweep --------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Warn open cases near their deadline and raise the overdue ones, once each."""
        moment = now or self.clock()
        counts = {"warned": 0, "overdue": 0}
        for municipality in await self.cases.municipalities_open():
            calendar = await self.calendar(municipality)
            today = await self.today(municipality, moment)
            near = calendar.add_business_days(today, self.settings.near_days)
            counts["overdue"] += len(await self.cases.mark_overdue(municipality, today, moment))
            counts["warned"] += len(await self.cases.warn_near(municipality, today, near, moment))
        return counts

    # --- the calendar's own days, officers' areas -------------------------------------

    async def non_working_days(self, municipality: int) -> list[dict[str, Any]]:
        days: list[dict[str, Any]] = await self.admin.non_working_days(municipality)
        return days

    async def add_non_working_day(self, municipality: int, day: date, name: str, *,
                                  actor: str) -> None:
        name = " ".join(name.split())[:120]
        if not name:
            raise CaseRefused("give the day a name")
        await self.admin.add_non_working_day(municipality, day, name, actor=actor,
                                             moment=self.clock())
        self._calendars.pop(municipality, None)

    async def remove_non_working_day(self, municipality: int, day: date, *,
                                     actor: str) -> bool:
        removed: bool = await self.admin.remove_non_working_day(municipality, day, actor=actor,
                                                                moment=self.clock())
        return removed

    async def officer_areas(self, municipality: int, user_id: int) -> list[str]:
        areas: list[str] = await self.admin.officer_areas(municipality, user_id)
        return areas

    async def grant_area(self, municipality: int, user_id: int, area: str, *,
                         actor: str) -> bool:
        known = {a.id for line in await self.lines(municipality) for a in line.areas}
        if area not in known:
            raise CaseRefused("that area is not one of this municipality's")
        granted: bool = await self.admin.grant_area(municipality, user_id, area, actor=actor,
                                                    moment=self.clock())
        return granted

    async def revoke_area(self, municipality: int, user_id: int, area: str, *,
                          actor: str) -> bool:
        revoked: bool = await self.admin.revoke_area(municipality, user_id, area, actor=actor,
                                                     moment=self.clock())
        return revoked

    async def areas_seen(self, municipality: int, user_id: int,
                         role: Role | str) -> list[str] | None:
        """The areas whose cases a person sees: None for every area (supervisors and
        admins), an officer's grants, nothing for anyone else."""
        role = Role(role)
        if role in (Role.SUPERVISOR, Role.ADMIN):
            return None
        if role is Role.OFFICER:
            return await self.officer_areas(municipality, user_id)
        return []

    async def person(self, municipality: int, user_id: int, role: Role | str,
                     actor: str) -> Officer:
        """Who acts on cases, as ``answer``, ``close`` and ``reopen`` check them."""
        areas = await self.areas_seen(municipality, user_id, role)
        return Officer(actor, Role(role), municipality,
                       None if areas is None else frozenset(areas))

    # --- the monthly report ------------------------------------------------------------

    async def monthly(self, municipality: int, month: str | date) -> list[AreaMonth]:
        """Per area (and its kinds): received in ``month``, answered on time or late,
        overdue without an answer and open within the deadline, as of today."""
        first, after = month_span(month)
        today = await self.today(municipality)
        rows = await self.admin.monthly(municipality, first, after, today)
        return monthly_areas(rows)

"""Use case: a report that did not come by the IVR (radio, a patrol, the counter, e-mail;
later SMS, alarms and the web) is opened here, with the same rules as a call's.

The incident type must be one the live lines offer, and its priority, emergency flag
and callback deadline are the lines' (what admins set), never the client's; the
channel must be one taken by hand; a callback number is 6 to 15 digits; a zone must be
known. Every intake but the IVR's calls this; the IVR's flows apply the same type
rules from the version of the line the call runs on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ivr.core.records import ManualReport
from ivr.domain.lines import IncidentType
from ivr.domain.roles import MANUAL_INTAKES, Intake


class IntakeRefused(ValueError):
    """The entry cannot become a report; the message says what to fix."""


class ManualBook(Protocol):
    async def file_manual(self, entry: ManualReport, actor: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Entry:
    type_id: str
    channel: str
    summary: str
    caller: str | None = None
    zone: str | None = None
    address: str | None = None


class ReportIntake:
    def __init__(self, book: ManualBook,
                 types: Callable[[int], Awaitable[Sequence[IncidentType]]],
                 zone_known: Callable[[str], bool]) -> None:
        self.book = book
        self.types = types
        self.zone_known = zone_known

    async def file(self, entry: Entry, *, actor: str, municipality: int = 1) -> int:
        """Open the report in ``municipality`` (with its incident types); returns its id."""
        return await self.book.file_manual(await self.check(entry, municipality), actor)

    async def check(self, entry: Entry, municipality: int,
                    channels: tuple[Intake, ...] = MANUAL_INTAKES) -> ManualReport:
        """``entry`` as the report the rules make of it, or IntakeRefused; ``channels``: the
        ones this intake takes (by hand; or, for a citizen's text, ``sms``)."""
        incident = next((t for t in await self.types(municipality) if t.id == entry.type_id),
                        None)
        if incident is None:
            raise IntakeRefused("pick an incident type")
        try:
            channel = Intake(entry.channel)
        except ValueError:
            raise IntakeRefused("pick the channel the report came by") from None
        if channel not in channels:
            raise IntakeRefused("pick the channel the report came by")
        caller = (entry.caller or "").strip()
        if caller and not (caller.isascii() and caller.isdigit() and 6 <= len(caller) <= 15):
            raise IntakeRefused("a callback number is 6 to 15 digits")
        zone = (entry.zone or "").strip()
        if zone and not self.zone_known(zone):
            raise IntakeRefused(f"no zone {zone[:10]}")
        return ManualReport(type_id=incident.id, priority=incident.priority, channel=channel,
                            summary=entry.summary, caller=caller or None, zone=zone or None,
                            address=(entry.address or "").strip()[:200] or None,
                            emergency=incident.emergency,
                            callback_minutes=incident.callback_minutes,
                            municipality=municipality)

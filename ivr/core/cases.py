"""Use cases: what people do to a report once it is open, whatever screen they use.

A state change (with its note, unit or original), a note, taking or giving back the
callback, listening to a clip, a legal hold and its lifting, releasing clips to the
retention rules, asking for a new transcript, and the audit of an export. The rules
that decide who may do what to which report live here, not in a view; the store
keeps the rows and the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ivr.core.records import CaseError
from ivr.core.repositories import CaseRecords
from ivr.domain.deadlines import reservation_lapsed
from ivr.domain.municipalities import municipality_of, report_id
from ivr.domain.reports import OPEN_STATES, ReportState

__all__ = ["CaseDesk", "CaseError", "Person"]


@dataclass(frozen=True, slots=True)
class Person:
    """Who acts: their audit name, login name and whether they supervise."""

    actor: str  # user:<name>
    name: str
    supervisor: bool = False


class CaseDesk:
    def __init__(self, records: CaseRecords, *, release_minutes: int,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.records = records
        self.release_minutes = release_minutes
        self.clock = clock or (lambda: datetime.now(UTC))

    async def change_state(self, report: int, state: str, by: Person, *, note: str = "",
                           unit: str = "", duplicate_of: str = "") -> None:
        try:
            target = ReportState(state)
        except ValueError as exc:
            raise CaseError("unknown state") from exc
        original = None
        raw = duplicate_of.strip().lstrip("#")
        if raw:
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) > 0):
                raise CaseError("the original report is a number")
            # the number as this municipality's people know it: never another's report
            original = report_id(municipality_of(report), int(raw))
        await self.records.change_state(report, target, by.actor, note=note, unit=unit,
                                        duplicate_of=original)

    async def add_note(self, report: int, text: str, by: Person) -> None:
        await self.records.add_note(report, by.actor, text)

    async def reserve(self, report: int, by: Person, *, release: bool = False) -> None:
        """Take the callback (or give it back). Someone else's live reservation is theirs,
        unless it has lapsed or a supervisor takes it over."""
        row = await self.records.report(report)
        if row is None:
            raise LookupError("no such report")
        holder = row.get("reserved_by")
        mine = bool(holder) and str(holder).lower() == by.name.lower()
        if holder and not mine and not self._lapsed(row) and not by.supervisor:
            raise CaseError(f"{holder} has taken this callback")
        await self.records.reserve(report, by.actor, release=release)

    def _lapsed(self, row: Mapping[str, Any]) -> bool:
        due = _when(row.get("callback_due_at"))
        owed = (due is not None and not row.get("callback_done_at") and bool(row.get("caller"))
                and ReportState(row["state"]) in OPEN_STATES)
        return bool(owed and reservation_lapsed(due, _when(row.get("reserved_at")), self.clock(),
                                                self.release_minutes))

    async def listened(self, report: int, clip: int, by: Person) -> None:
        await self.records.record_listen(report, clip, by.actor)

    async def legal_hold(self, report: int, on: bool, reason: str, by: Person) -> None:
        reason = reason.strip()[:500]
        if on and not reason:
            raise CaseError("say why the clips are held (case number, request)")
        await self.records.set_legal_hold(report, on, actor=by.actor, reason=reason,
                                          now=self.clock())

    async def release_clips(self, report: int, by: Person) -> None:
        await self.records.release_clips(report, actor=by.actor, now=self.clock())

    async def retranscribe(self, report: int, clip: int, by: Person) -> None:
        if not await self.records.clip_exists(report, clip):
            raise LookupError("no such clip")
        await self.records.requeue_transcript(clip, self.clock(), by.actor)

    async def hand_over(self, report: int, neighbour: int, by: Person, *, note: str = "") -> int:
        """Give an open report to a neighbouring municipality, history and clips with it;
        returns the neighbour's report id. Both histories say so."""
        if neighbour == municipality_of(report):
            raise CaseError("the report is this municipality's already")
        return await self.records.hand_over(report, neighbour, actor=by.actor,
                                            note=note.strip()[:500], now=self.clock())

    async def exported(self, kind: str, query: str, by: Person,
                       municipality: int | None = None) -> None:
        """An export left the system: who, which format, which filters, whose data."""
        await self.records.audit("analytics.exported", self.clock(), actor=by.actor,
                                 data={"format": kind, "query": query},
                                 municipality=municipality)


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

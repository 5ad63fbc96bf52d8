"""The narrow set of things a call flow may use besides its CallControl.

Flows never import a transport or a database driver: they get these protocols,
implemented by ``ivr.store`` and ``ivr.clips`` and wired in ``ivr.app``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from ivr.domain.clips import ClipInfo
from ivr.domain.lines import LineConfig
from ivr.domain.reports import ReportState


@dataclass(frozen=True, slots=True)
class NewReport:
    type_id: str
    priority: int
    emergency: bool
    language: str
    call_id: str
    caller_id_raw: str | None
    caller: str | None  # a usable caller ID, provisionally the callback number
    callback_minutes: int | None = None  # the line's deadline for this type; None: settings'
    municipality: int = 1  # whose line the caller dialled
    line: str = ""  # the line and version the caller heard: "<slug> v<n>"


@dataclass(frozen=True, slots=True)
class Location:
    zone: str | None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    source: str = "keypad"  # directory | keypad | none


@dataclass(frozen=True, slots=True)
class ReportStatus:
    number: int
    state: ReportState
    changed_at: datetime


class ReportBook(Protocol):
    """Where reports are written as the call goes on; each call is durable on return."""

    async def open_report(self, new: NewReport) -> int: ...

    async def set_callback(self, report: int, number: str | None, source: str) -> None: ...

    async def set_location(self, report: int, location: Location) -> None: ...

    async def attach_clip(self, report: int, take: int, clip: ClipInfo) -> None: ...

    async def close_call(
        self, report: int, *, complete: bool, outcome: str, last_step: str | None
    ) -> None: ...

    async def status(self, number: int) -> ReportStatus | None: ...


class Directory(Protocol):
    async def lookup(self, number: str, municipality: int = 1) -> Location | None: ...
    async def zones(self, municipality: int) -> frozenset[str]:
        """The zone codes the municipality imported; empty when it imported none."""


class ClipKeeper(Protocol):
    def incoming_path(self, call_id: str, report: int, take: int) -> Path:
        """Where Asterisk should record (no extension)."""

    def playback_path(self, clip: ClipInfo) -> Path:
        """The kept clip's path for Asterisk to play (no extension)."""

    async def keep(self, recorded: Path, *, partial: bool) -> ClipInfo | None:
        """Validate and move a finished recording into place; None when nothing was recorded."""


class DiskSpace(Protocol):
    async def room_to_record(self, report: int) -> bool:
        """False when the clip disk is short of space; the alert is raised by then."""

    async def recording_failed(self, report: int, take: int, detail: str) -> None:
        """Asterisk could not write a take: raise the alert (never raises itself)."""


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """The limits of a call, from the settings. What admins change (languages, menus,
    incident types, prompts, the operator queue) is the line's, read per call."""

    zones: frozenset[str]
    prompts: Path  # the shipped <prompts>/<lang>/<id>, as Asterisk sees it: the last fallback
    operator_timeout_s: int
    menu_timeout_s: float
    menu_tries: int
    callback_min_digits: int
    callback_max_digits: int
    record_max_s: int
    record_silence_s: int
    record_min_ms: int


@dataclass(frozen=True, slots=True)
class Deps:
    config: FlowConfig
    book: ReportBook
    directory: Directory
    clips: ClipKeeper
    clock: Callable[[], datetime]
    lines: LineCatalogue  # what each call runs on: the live version of its line
    disk: DiskSpace | None = None  # None: no check (flows tested without a disk)
    recordings: PromptRecordings | None = None  # admins recording prompts by phone
    cases: CaseBook | None = None  # participation lines (None: that flow refuses calls)
    tax: TaxDesk | None = None  # tax lines (None: that flow says the service is down)


@dataclass(frozen=True, slots=True)
class PublishedLine:
    """The version of a line one call runs on, from its first prompt to its last:
    a publish or a roll-back while it goes on changes only the calls after it."""

    line_id: int
    version: int
    config: LineConfig
    prompts: Path  # this version's own folder: <prompts>/<lang>/<id> as Asterisk sees it
    matched: bool = True  # False: the dialled number is no line's; this is the default line
    municipality: int = 1  # whose line it is: its reports are that municipality's


class LineCatalogue(Protocol):
    """Lines as calls see them: published versions only, read once per call."""

    async def for_call(self, dialled: str | None, flow: str | None) -> PublishedLine | None:
        """The live version of the line ``dialled`` reaches; when no line has that
        number, the default line of ``flow`` (None: of any flow, the report line by
        default); None when no such line is published at all. While the store is
        away, the version last seen."""


@dataclass(frozen=True, slots=True)
class Recording:
    """A prompt being recorded by phone (``ivr.core.phone_prompts``)."""

    token: str
    line_id: int
    prompt_id: str
    language: str
    cue_audio: str
    requested_by: str
    endpoint: str
    state: str
    takes: int
    kept_audio: str | None
    detail: str
    requested_at: str
    updated_at: str



class PromptRecordings(Protocol):
    """A prompt recorded by phone, as the ``prompt_record`` flow moves it on."""

    async def answered(self, token: str) -> Recording | None: ...

    def cue_path(self, rec: Recording) -> str: ...

    def take_path(self, rec: Recording, take: int) -> Path: ...

    async def took(self, rec: Recording, take: int) -> None: ...

    async def keep(self, rec: Recording, recorded: Path) -> str: ...

    async def abandon(self, rec: Recording, detail: str) -> None: ...


class PhoneRinger(Protocol):
    """Rings a phone into the prompt-recording context (``ivr.ami.prompt_originate``)."""

    async def ring(self, endpoint: str, token: str) -> str | None:
        """None once Asterisk has queued the call; else why it refused. Raises ValueError for
        a phone that cannot be rung, TelephonyUnavailable when there is no link."""


# --- participation lines: complaints, suggestions and queries with a deadline ----------


@dataclass(frozen=True, slots=True)
class CaseReceipt:
    report: int  # the case number is the report's number
    due_on: date  # the last business day the municipality has to answer


@dataclass(frozen=True, slots=True)
class CaseStatus:
    state: str  # open | answered | closed
    due_on: date
    answered_on: date | None
    answer_audio: Path | None  # the answer spoken, as Asterisk plays it (no extension)
    overdue: bool = False  # open, and its due date is past on the municipality's calendar


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case's own facts, opened with its report (``ivr.store.cases``)."""

    kind: str  # the line's type id
    area: str  # the line's area id
    intake: str  # ivr | counter | email | open311
    received_on: date  # the municipality's local date
    business_days: int
    due_on: date
    subject: str = ""  # what a written case says
    contact_name: str | None = None
    contact_email: str | None = None
    api_key_id: int | None = None
    area_name: str = ""  # the area's label in the case's language, for the citizen's text


class CaseBook(Protocol):
    """Cases as a participation call opens and follows them (``ivr.core.participation``)."""

    async def open_case(self, new: NewReport, *, kind: str, area: str,
                        business_days: int) -> CaseReceipt:
        """Open the report and its case in one transaction; the deadline counts business
        days on the municipality's calendar from the day after today."""

    async def case_status(self, report: int) -> CaseStatus | None:
        """None when ``report`` is no case."""

    def default_days(self, kind: str) -> int | None:
        """Business days to answer ``kind`` when its line sets none (the settings')."""


class CaseShelf(Protocol):
    """Cases' rows and events (``ivr.store.cases.CaseStore``)."""

    async def open(self, new: NewReport, case: NewCase, *, actor: str = "ivr") -> int: ...

    async def case(self, report: int) -> dict[str, Any] | None: ...

    async def municipalities_open(self) -> list[int]: ...

    async def answer(self, report: int, *, text: str, audio: str | None, answered_on: date,
                     actor: str, moment: datetime, data: dict[str, Any]) -> bool: ...

    async def close(self, report: int, *, actor: str, moment: datetime) -> bool: ...

    async def reopen(self, report: int, *, actor: str, reason: str,
                     moment: datetime) -> bool: ...

    async def warn_near(self, municipality: int, today: date, near_until: date,
                        moment: datetime) -> list[int]: ...

    async def mark_overdue(self, municipality: int, today: date,
                           moment: datetime) -> list[int]: ...


class CaseAdminShelf(Protocol):
    """Non-working days, officers' areas, monthly counts (``ivr.store.case_admin``)."""

    async def non_working_days(self, municipality: int) -> list[dict[str, Any]]: ...

    async def add_non_working_day(self, municipality: int, day: date, name: str, *,
                                  actor: str, moment: datetime) -> None: ...

    async def remove_non_working_day(self, municipality: int, day: date, *, actor: str,
                                     moment: datetime) -> bool: ...

    async def officer_areas(self, municipality: int, user_id: int) -> list[str]: ...

    async def grant_area(self, municipality: int, user_id: int, area: str, *, actor: str,
                         moment: datetime) -> bool: ...

    async def revoke_area(self, municipality: int, user_id: int, area: str, *, actor: str,
                          moment: datetime) -> bool: ...

    async def monthly(self, municipality: int, first: date, after: date,
                      today: date) -> list[dict[str, Any]]: ...


# --- tax lines: what a taxpayer owes, by keypad ---------------------------------------


@dataclass(frozen=True, slots=True)
class TaxQuery:
    municipality: int
    caller: str | None  # the usable calling number; None when withheld
    call_id: str
    line: str  # "<slug> v<n>"
    tax_id: str | None  # a valid DNI or RUC; None when what was typed was not one
    secret: str  # the code on the tax bill, as typed; never stored nor logged
    today: date  # the line's local date: a debt due before it is overdue

    def __repr__(self) -> str:  # a query in a log or a traceback never shows the code
        return (f"TaxQuery(municipality={self.municipality}, caller={self.caller!r}, "
                f"call_id={self.call_id!r}, tax_id={self.tax_id!r}, secret=<hidden>)")


TAX_RESULTS = ("found", "nothing_owed", "no_match", "invalid_id", "blocked", "unavailable")


@dataclass(frozen=True, slots=True)
class TaxAnswer:
    result: str  # one of TAX_RESULTS
    owed_cents: int = 0
    due_on: date | None = None  # the earliest unpaid due date
    overdue: bool = False  # due_on has passed


class TaxDesk(Protocol):
    """Tax lookups with their limits and audit (``ivr.core.tax``)."""

    async def blocked(self, municipality: int, caller: str | None) -> bool:
        """May this number not look up now (too many tries, an enumeration stopped)?"""

    async def lookup(self, query: TaxQuery) -> TaxAnswer:
        """Check the limits, ask the back end, audit the try; never raises for a back
        end that is down (``unavailable``)."""

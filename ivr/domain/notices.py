"""What the notifier sees when it decides who to message: the events it has not read
yet, the reports they are about, and each municipality's rules, staff and texting
settings at that moment. The store fills these in one transaction
(``ivr.store.alert_feed``); ``ivr.core.notifier`` turns them into a ``Plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ivr.domain.alerting import DEFAULT_AUDIENCES, Message, Person, Rule


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    kind: str
    report_id: int | None
    municipality: int | None
    at: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReportFacts:
    id: int
    municipality: int
    type: str
    emergency: bool
    state: str
    caller: str | None
    language: str | None
    channel: str
    complete: bool
    service: str | None = None  # 'participation': a citizen's case, not an incident


@dataclass(frozen=True, slots=True)
class TextSettings:
    """A municipality's texts to citizens (``sms_settings``)."""

    number: str | None = None
    receipt: bool = True
    on_dispatched: bool = True
    on_resolved: bool = True
    quiet_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Place:
    """A municipality as the notifier needs it."""

    id: int
    name: str
    utc_offset_minutes: int
    rules: tuple[Rule, ...] = ()
    people: tuple[Person, ...] = ()
    texts: TextSettings = TextSettings()

    def local(self, moment: datetime) -> datetime:
        return moment + timedelta(minutes=self.utc_offset_minutes)

    def rules_for(self, cause: str) -> list[Rule]:
        """The admins' rules for ``cause``; none written, its default audience if it has
        one (``alerting.DEFAULT_AUDIENCES``)."""
        found = [r for r in self.rules if r.cause == cause]
        if not found and cause in DEFAULT_AUDIENCES:
            return [Rule(0, self.id, cause, DEFAULT_AUDIENCES[cause])]
        return found


@dataclass(frozen=True, slots=True)
class Due:
    """An escalation whose time has come."""

    report_id: int
    step: int
    rule_id: int


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    events: tuple[FeedEvent, ...] = ()
    due: tuple[Due, ...] = ()
    reports: dict[int, ReportFacts] = field(default_factory=dict)
    places: dict[int, Place] = field(default_factory=dict)
    opted_out: frozenset[tuple[int, str]] = frozenset()  # (municipality, number)


@dataclass(frozen=True, slots=True)
class Escalation:
    report_id: int
    step: int
    due_at: datetime
    rule_id: int


@dataclass
class Plan:
    messages: list[Message] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)

"""The rules of citizens' cases that need no store: who may act on a case, what a written
case must hold, and the monthly figures summed per area (``ivr.core.participation``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ivr.domain.lines import LineConfig
from ivr.domain.roles import Role

WRITTEN_INTAKES = ("counter", "email", "open311")
SUBJECT_MAX = 4000
NAME_MAX = 120
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,24}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class CaseRefused(ValueError):
    """A case that cannot be entered or changed; the message says why, fit to show."""


@dataclass(frozen=True, slots=True)
class Officer:
    """Who acts on a case: their audit name, role, municipality and the areas they
    answer for (None: every area, as supervisors and admins)."""

    actor: str
    role: Role
    municipality: int
    areas: frozenset[str] | None = None


def may_act(actor: str | Officer, case: Mapping[str, Any], needed: Role = Role.OFFICER) -> str:
    """The actor's audit name when they may act on ``case``; else CaseRefused. A plain
    name is the system's or a caller that checked the person already."""
    if isinstance(actor, str):
        return actor
    if actor.municipality != int(case["municipality_id"]):
        raise CaseRefused("no such case")
    if not actor.role.allows(needed):
        raise CaseRefused("a supervisor does that" if needed is Role.SUPERVISOR
                          else "officers, supervisors and admins answer cases")
    if actor.areas is not None and case["area"] not in actor.areas:
        raise CaseRefused("this case is in an area you do not answer for")
    return actor.actor


@dataclass(frozen=True, slots=True)
class WrittenCase:
    subject: str
    caller: str | None
    contact_name: str | None
    contact_email: str | None


def written_case(lines: Sequence[LineConfig], *, kind: str, area: str, intake: str,
                 subject: str, caller: str | None, contact_name: str | None,
                 contact_email: str | None) -> tuple[WrittenCase, LineConfig]:
    """A case from the counter, an e-mail or a website, checked; and the line it is for."""
    if intake not in WRITTEN_INTAKES:
        raise CaseRefused("a written case comes from the counter, an e-mail or Open311")
    if not lines:
        raise CaseRefused("the municipality has no published participation line")
    line = next((ln for ln in lines if ln.type(kind) is not None and ln.area(area)), None)
    if line is None:
        if not any(ln.type(kind) is not None for ln in lines):
            raise CaseRefused("pick a kind of case: complaint, suggestion or query")
        raise CaseRefused("pick one of the municipality's areas")
    subject = (subject or "").strip()
    if not subject:
        raise CaseRefused("say what the case is about")
    if len(subject) > SUBJECT_MAX:
        raise CaseRefused(f"the text is longer than {SUBJECT_MAX} characters")
    if _CONTROL.search(subject):
        raise CaseRefused("the text holds control characters")
    return WrittenCase(subject, phone(caller), name(contact_name), email(contact_email)), line


def phone(raw: str | None) -> str | None:
    """Digits of a phone number (spaces, dashes, dots, brackets and a leading + allowed)."""
    text = (raw or "").strip()
    if not text:
        return None
    digits = re.sub(r"[\s\-.()]", "", text).removeprefix("+")
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise CaseRefused("a phone number is 6 to 15 digits")
    return digits


def email(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise CaseRefused("that e-mail address is not valid")
    return text


def name(raw: str | None) -> str | None:
    text = " ".join((raw or "").split())
    if not text:
        return None
    if len(text) > NAME_MAX or not text.isprintable():
        raise CaseRefused(f"a name is up to {NAME_MAX} printable characters")
    return text


# --- the monthly figures ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindMonth:
    received: int = 0
    on_time: int = 0  # answered on or before the due date
    late: int = 0  # answered after it
    overdue: int = 0  # still open, past the due date
    open: int = 0  # still open, within the deadline


@dataclass(frozen=True, slots=True)
class AreaMonth(KindMonth):
    area: str = ""
    by_kind: dict[str, KindMonth] = field(default_factory=dict)


COUNTS = ("received", "on_time", "late", "overdue", "open")


def month_span(month: str | date) -> tuple[date, date]:
    """The first day of ``month`` ("YYYY-MM" or any date in it) and of the next."""
    if isinstance(month, date):
        first = month.replace(day=1)
    else:
        found = _MONTH.fullmatch(str(month).strip())
        if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
            raise CaseRefused("pick a month (YYYY-MM)")
        first = date(int(found.group(1)), int(found.group(2)), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


def monthly_areas(rows: Iterable[Mapping[str, Any]]) -> list[AreaMonth]:
    """Rows per area and kind summed per area, areas in their order."""
    kinds: dict[str, dict[str, KindMonth]] = {}
    for r in rows:
        kinds.setdefault(str(r["area"]), {})[str(r["kind"])] = KindMonth(
            *(int(r[c]) for c in COUNTS))
    return [AreaMonth(area=area, by_kind=by,
                      **{c: sum(getattr(k, c) for k in by.values()) for c in COUNTS})
            for area, by in kinds.items()]

"""Municipalities sharing one deployment, and the report numbers each one's callers hear.

Municipality ``n`` owns the report ids ``(n-1)*RANGE + 1 .. n*RANGE - 1``; the number a
caller hears (and types on the status line) is the id less the start of that range.
So municipality 1's ids are its numbers, a controller hands out any municipality's
next number without asking the database, and a number can only ever name a report of
the municipality whose line it was typed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RANGE = 10_000_000_000
MAX_MUNICIPALITIES = 900_000  # ids stay below 2^53: safe in JSON and JavaScript
CODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class MunicipalityError(ValueError):
    """A refused municipality, with a message fit to show."""


def first_id(municipality: int) -> int:
    """The lowest report id of ``municipality`` (its number 1)."""
    return (municipality - 1) * RANGE + 1


def last_id(municipality: int) -> int:
    return municipality * RANGE - 1


def report_id(municipality: int, number: int) -> int:
    """The report ``number`` of ``municipality`` as the system knows it."""
    if not 1 <= number < RANGE:
        raise ValueError(f"report number out of range: {number}")
    return (municipality - 1) * RANGE + number


def number_of(report: int) -> int:
    """What a caller of the report's municipality hears for ``report``."""
    return report % RANGE


def municipality_of(report: int) -> int:
    return report // RANGE + 1


@dataclass(frozen=True, slots=True)
class Municipality:
    id: int
    code: str
    name: str
    timezone: str
    utc_offset_minutes: int
    jurisdiction_id: str
    public_page: bool = True
    retention_days: int | None = None

    def owns(self, report: int) -> bool:
        return municipality_of(report) == self.id


def check_code(code: str) -> str:
    if not CODE.fullmatch(code):
        raise MunicipalityError(
            "a code is 1-40 lowercase letters, digits and inner '-' (it goes in URLs)")
    return code


def standard_offset(timezone: str) -> int:
    """The zone's standard UTC offset in minutes (analytics group by it all year)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MunicipalityError(f"unknown time zone: {timezone}") from exc
    january = datetime(2025, 1, 15, 12, tzinfo=zone).utcoffset()
    july = datetime(2025, 7, 15, 12, tzinfo=zone).utcoffset()
    assert january is not None and july is not None
    return int(min(january, july).total_seconds() // 60)

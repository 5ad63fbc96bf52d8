"""Business days ("días hábiles"): when a municipality must have answered a citizen's case.

The counting rule follows the TUO of Ley 27444 (D.S. 004-2019-JUS) as it is commonly read:
a period in days is made of consecutive business days (art. 145), leaving out weekends,
national holidays and the days the office itself does not work; counting starts on the
business day after the one on which the case came in (art. 144). So:

- the day a case is received is never day 1, whatever kind of day it is;
- a case received on a Saturday, Sunday or holiday has its day 1 on the next business day;
- the due date is the N-th business day counted that way, and is itself a business day.

National holidays come from the ``holidays`` package (python-holidays); a municipality adds
its own non-working days (its anniversary, a day the government declares "no laborable" for
the public sector) as ``extra_non_working``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import holidays

SATURDAY = 5
_ONE_DAY = timedelta(days=1)
MUNICIPAL_DAY_NAME = "Día no laborable de la municipalidad"


class Calendar:
    """Which days count as business days for one municipality."""

    def __init__(
        self,
        country: str = "PE",
        subdivision: str | None = None,
        extra_non_working: Iterable[date] | Mapping[date, str] = (),
        *,
        language: str = "es",
    ) -> None:
        """``extra_non_working`` is a collection of dates, or a mapping of date to the name
        to give them. An unknown country or subdivision raises ``ValueError`` here, at
        configuration time, rather than on the first call that needs a deadline."""
        try:
            self._national = holidays.country_holidays(
                country, subdiv=subdivision, language=language
            )
        except NotImplementedError as error:
            raise ValueError(str(error)) from error
        self.country = country
        self.subdivision = subdivision
        if isinstance(extra_non_working, Mapping):
            self._extra = {day: str(name) for day, name in extra_non_working.items()}
        else:
            self._extra = {day: MUNICIPAL_DAY_NAME for day in extra_non_working}

    def holiday_name(self, day: date) -> str | None:
        """The holiday or municipal non-working day on ``day``, or None. A holiday that
        falls on a weekend is named all the same."""
        if day in self._extra:
            return self._extra[day]
        name = self._national.get(day)
        return None if name is None else str(name)

    def is_business_day(self, day: date) -> bool:
        """Monday to Friday, not a national holiday, not one of the municipality's days."""
        return day.weekday() < SATURDAY and self.holiday_name(day) is None

    def add_business_days(self, start: date, count: int) -> date:
        """The ``count``-th business day after ``start``; ``start`` itself is never counted.

        ``count == 0`` gives ``start`` unchanged, whatever kind of day it is. A negative
        ``count`` walks back: the ``-count``-th business day before ``start``."""
        step = _ONE_DAY if count >= 0 else -_ONE_DAY
        day = start
        for _ in range(abs(count)):
            day += step
            while not self.is_business_day(day):
                day += step
        return day

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after ``start`` up to and including ``end``.

        Positive when ``end`` is later, 0 when the dates are equal, and negative when
        ``end`` is earlier (``-business_days_between(end, start)``). It is the inverse of
        ``add_business_days``: ``business_days_between(a, add_business_days(a, n)) == n``.

        With ``start`` = today and ``end`` = a due date it is the business days left:
        1 means the deadline is the next business day, 0 means it is today or that no
        business day lies between. A holiday just after the due date also gives 0, so
        whether a case is late is ``today > due``, not this count."""
        if end < start:
            return -self.business_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += _ONE_DAY
            if self.is_business_day(day):
                count += 1
        return count


def due_date(received: date, business_days: int, calendar: Calendar) -> date:
    """The last day on which a case received on ``received`` may be answered within
    ``business_days`` business days (at least 1)."""
    if business_days < 1:
        raise ValueError(f"a period is at least 1 business day, not {business_days}")
    return calendar.add_business_days(received, business_days)


CaseKind = Literal["complaint", "suggestion", "query"]


@dataclass(frozen=True)
class AnswerPeriods:
    """Business days a municipality gives itself to answer each kind of case.

    The 30-day defaults follow what D.S. 007-2020-PCM is reported to set for complaints
    ("reclamos"); the shorter default for queries is the project's choice, not a legal
    figure. Each municipality may set its own."""

    complaint: int = 30
    suggestion: int = 30
    query: int = 10

    def __post_init__(self) -> None:
        for kind in ("complaint", "suggestion", "query"):
            if getattr(self, kind) < 1:
                raise ValueError(f"{kind}: a period is at least 1 business day")

    def due(self, kind: CaseKind, received: date, calendar: Calendar) -> date:
        return due_date(received, int(getattr(self, kind)), calendar)

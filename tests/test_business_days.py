"""Business-day deadlines: worked by hand on the 2026 calendar, against Peru's holidays.

The official list of national holidays for 2026 (art. 6 of D. Leg. 713 with Leyes 31381,
31530, 31788 and 31822), with the weekday each falls on:

    Thu 1 Jan   Año Nuevo                  Thu 23 Jul  Día de la Fuerza Aérea (since 2023)
    Thu 2 Apr   Jueves Santo               Tue 28 Jul  Independencia
    Fri 3 Apr   Viernes Santo              Wed 29 Jul  Gran Parada Militar
    Fri 1 May   Día del Trabajo            Thu 6 Aug   Batalla de Junín (since 2022)
    Sun 7 Jun   Arica y Día de la Bandera  Sun 30 Aug  Santa Rosa de Lima
                (since 2024)               Thu 8 Oct   Combate de Angamos
    Mon 29 Jun  San Pedro y San Pablo      Sun 1 Nov   Todos los Santos
                                           Tue 8 Dec   Inmaculada Concepción
                                           Wed 9 Dec   Batalla de Ayacucho (since 2022)
                                           Fri 25 Dec  Navidad

The ``holidays`` package agrees on every one of them; it adds Easter Sunday (5 Apr), which
is no feriado but is a Sunday, so no business day changes. 24 and 31 December are working
days unless the government declares them "no laborables" in a given year; a municipality
that closes on them lists them as its own days.

Counting rule (TUO Ley 27444, arts. 144-145): the day a case comes in is not counted; day 1 is
the next business day; the due date is the N-th business day.
"""

from __future__ import annotations

from datetime import date

import pytest

from ivr.domain.business_days import (
    MUNICIPAL_DAY_NAME,
    AnswerPeriods,
    Calendar,
    due_date,
)

PERU = Calendar()

OFFICIAL_2026 = {
    date(2026, 1, 1), date(2026, 4, 2), date(2026, 4, 3), date(2026, 5, 1),
    date(2026, 6, 7), date(2026, 6, 29), date(2026, 7, 23), date(2026, 7, 28),
    date(2026, 7, 29), date(2026, 8, 6), date(2026, 8, 30), date(2026, 10, 8),
    date(2026, 11, 1), date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 25),
}


def days_of(year: int) -> list[date]:
    day, days = date(year, 1, 1), []
    while day.year == year:
        days.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return days


def test_the_package_knows_every_official_holiday_of_2026() -> None:
    named = {day for day in days_of(2026) if PERU.holiday_name(day) is not None}
    assert OFFICIAL_2026 <= named
    assert named - OFFICIAL_2026 == {date(2026, 4, 5)}  # Easter Sunday: a Sunday anyway


def test_business_days_of_2026_are_weekdays_less_the_official_holidays() -> None:
    expected = {d for d in days_of(2026) if d.weekday() < 5} - OFFICIAL_2026
    assert {d for d in days_of(2026) if PERU.is_business_day(d)} == expected
    # 2026 starts on a Thursday: 52 weeks and a Thursday, 261 weekdays; 13 holidays fall
    # on one (7 Jun, 30 Aug and 1 Nov are Sundays).
    assert len(expected) == 261 - 13


def test_holidays_added_since_2022_are_not_applied_before_their_first_year() -> None:
    assert PERU.holiday_name(date(2021, 12, 9)) is None  # Ayacucho: from 2022
    assert PERU.holiday_name(date(2022, 7, 23)) is None  # Fuerza Aérea: from 2023
    assert PERU.holiday_name(date(2023, 6, 7)) is None  # Arica: Ley 31788 came 15 Jun 2023
    assert PERU.holiday_name(date(2024, 6, 7)) == "Batalla de Arica y Día de la Bandera"


def test_holiday_names_are_in_spanish() -> None:
    assert PERU.holiday_name(date(2026, 7, 28)) == "Día de la Independencia"
    assert PERU.holiday_name(date(2026, 7, 27)) is None


def test_received_the_day_before_fiestas_patrias() -> None:
    """Received Mon 27 Jul 2026; Tue 28 and Wed 29 are holidays.

    1 day:  Thu 30 Jul.
    2 days: Fri 31 Jul.
    5 days: Thu 30, Fri 31, Mon 3 Aug, Tue 4, Wed 5 -> Wed 5 Aug (Thu 6 Aug is Junín).
    30 days: 30, 31 Jul (2); 3, 4, 5, 7 Aug (6); 10-14 (11); 17-21 (16); 24-28 (21);
             31 Aug, 1-4 Sep (26); 7, 8, 9, 10 Sep (30) -> Thu 10 Sep.
    """
    received = date(2026, 7, 27)
    assert due_date(received, 1, PERU) == date(2026, 7, 30)
    assert due_date(received, 2, PERU) == date(2026, 7, 31)
    assert due_date(received, 5, PERU) == date(2026, 8, 5)
    assert due_date(received, 30, PERU) == date(2026, 9, 10)


def test_received_on_a_saturday_counts_from_monday() -> None:
    """Received Sat 25 Jul 2026: day 1 is Mon 27 Jul, day 2 Thu 30 Jul (after 28-29)."""
    assert due_date(date(2026, 7, 25), 1, PERU) == date(2026, 7, 27)
    assert due_date(date(2026, 7, 25), 2, PERU) == date(2026, 7, 30)


def test_received_on_a_holiday_counts_from_the_next_business_day() -> None:
    """Received Tue 28 Jul 2026 (Independencia): Wed 29 is a holiday too, day 1 is Thu 30.
    Received Tue 8 Dec 2026: Wed 9 is Ayacucho, day 1 is Thu 10 Dec."""
    assert due_date(date(2026, 7, 28), 1, PERU) == date(2026, 7, 30)
    assert due_date(date(2026, 12, 8), 1, PERU) == date(2026, 12, 10)


def test_holy_week_and_air_force_day() -> None:
    """Wed 1 Apr 2026 + 1: Thu 2 and Fri 3 Apr are Holy Thursday and Good Friday -> Mon 6 Apr.
    Wed 22 Jul 2026 + 1: Thu 23 Jul is Air Force Day -> Fri 24 Jul."""
    assert due_date(date(2026, 4, 1), 1, PERU) == date(2026, 4, 6)
    assert due_date(date(2026, 7, 22), 1, PERU) == date(2026, 7, 24)


def test_across_the_december_holidays_and_new_year() -> None:
    """Mon 7 Dec 2026 + 5: 8, 9 Dec holidays; Thu 10, Fri 11, Mon 14, Tue 15, Wed 16 -> 16 Dec.
    Wed 23 Dec 2026 + 5: Thu 24 (a working day), Mon 28, 29, 30, Thu 31 -> 31 Dec.
    Wed 23 Dec 2026 + 6: Fri 1 Jan 2027 is a holiday -> Mon 4 Jan 2027.
    Tue 1 Dec 2026 + 30: 2-4 (3), 7, 10, 11 (6), 14-18 (11), 21-24 (15), 28-31 (19),
                         4-8 Jan (24), 11-15 (29), Mon 18 Jan 2027 (30)."""
    assert due_date(date(2026, 12, 7), 5, PERU) == date(2026, 12, 16)
    assert due_date(date(2026, 12, 23), 5, PERU) == date(2026, 12, 31)
    assert due_date(date(2026, 12, 23), 6, PERU) == date(2027, 1, 4)
    assert due_date(date(2026, 12, 1), 30, PERU) == date(2027, 1, 18)


def test_the_municipality_anniversary_pushes_the_deadline() -> None:
    """Lima's anniversary, Mon 18 Jan 2027, closes the municipality: the 30th business day
    after Tue 1 Dec 2026 moves from Mon 18 to Tue 19 Jan 2027."""
    lima = Calendar(extra_non_working={date(2027, 1, 18): "Aniversario de Lima"})
    assert due_date(date(2026, 12, 1), 30, lima) == date(2027, 1, 19)
    assert lima.holiday_name(date(2027, 1, 18)) == "Aniversario de Lima"
    assert not lima.is_business_day(date(2027, 1, 18))


def test_extra_days_given_as_plain_dates_get_a_generic_name() -> None:
    closed = Calendar(extra_non_working=[date(2026, 12, 24), date(2026, 12, 31)])
    assert closed.holiday_name(date(2026, 12, 24)) == MUNICIPAL_DAY_NAME
    # Wed 23 Dec + 5: 24 closed, 25 holiday; Mon 28, 29, 30, (31 closed), (1 Jan), Mon 4, Tue 5.
    assert due_date(date(2026, 12, 23), 5, closed) == date(2027, 1, 5)


def test_business_days_left_before_a_deadline() -> None:
    """Due Wed 5 Aug 2026 (5 days after 27 Jul).

    From Fri 24 Jul: Mon 27, Thu 30, Fri 31, Mon 3, Tue 4, Wed 5 -> 6 left.
    From Mon 3 Aug: Tue 4, Wed 5 -> 2 left. From Wed 5 Aug: 0 (due today).
    From Sat 1 Aug: Mon 3, Tue 4, Wed 5 -> 3, the same as from Fri 31 Jul."""
    due = date(2026, 8, 5)
    assert PERU.business_days_between(date(2026, 7, 24), due) == 6
    assert PERU.business_days_between(date(2026, 8, 3), due) == 2
    assert PERU.business_days_between(due, due) == 0
    assert PERU.business_days_between(date(2026, 8, 1), due) == 3
    assert PERU.business_days_between(date(2026, 7, 31), due) == 3


def test_business_days_past_a_deadline_are_negative() -> None:
    """Due Wed 5 Aug 2026. On Fri 7 Aug one business day (the 7th) has passed: -1.
    On Thu 6 Aug, Junín, none has: 0, though the date is past the deadline."""
    due = date(2026, 8, 5)
    assert PERU.business_days_between(date(2026, 8, 7), due) == -1
    assert PERU.business_days_between(date(2026, 8, 10), due) == -2
    assert PERU.business_days_between(date(2026, 8, 6), due) == 0
    assert date(2026, 8, 6) > due


@pytest.mark.parametrize("received", [date(2026, 7, 25), date(2026, 7, 27), date(2026, 12, 23)])
@pytest.mark.parametrize("days", [1, 2, 5, 30])
def test_counting_between_undoes_adding(received: date, days: int) -> None:
    due = PERU.add_business_days(received, days)
    assert PERU.is_business_day(due)
    assert PERU.business_days_between(received, due) == days
    assert PERU.business_days_between(due, received) == -days


def test_adding_zero_or_walking_back() -> None:
    assert PERU.add_business_days(date(2026, 7, 28), 0) == date(2026, 7, 28)
    # Back from Thu 30 Jul: Wed 29 and Tue 28 are holidays -> Mon 27 Jul.
    assert PERU.add_business_days(date(2026, 7, 30), -1) == date(2026, 7, 27)


def test_a_period_is_at_least_one_business_day() -> None:
    with pytest.raises(ValueError):
        due_date(date(2026, 7, 27), 0, PERU)
    with pytest.raises(ValueError):
        AnswerPeriods(query=0)


def test_answer_periods_default_and_configurable() -> None:
    """Complaint received Mon 27 Jul 2026: 30 business days -> Thu 10 Sep (worked above).
    A query with a 5-day period -> Wed 5 Aug."""
    assert AnswerPeriods().due("complaint", date(2026, 7, 27), PERU) == date(2026, 9, 10)
    assert AnswerPeriods().suggestion == 30
    assert AnswerPeriods().query < AnswerPeriods().complaint
    assert AnswerPeriods(query=5).due("query", date(2026, 7, 27), PERU) == date(2026, 8, 5)


def test_an_unknown_country_or_subdivision_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        Calendar(country="XX")
    with pytest.raises(ValueError):
        Calendar(subdivision="LIM")  # the package has no Peruvian regions

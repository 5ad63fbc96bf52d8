"""Citizens' cases as the use cases keep them (``ivr.core.participation``) on both engines:
deadlines worked by hand on Peru's 2026 calendar, a municipality's own day, officers kept
to their areas, the answer's history, the sweep once, the monthly figures, written cases
refused with clear words, and cases kept out of the incident queue, search and analytics.

2026 holidays used: Thu 23 Jul, Tue 28 and Wed 29 Jul, Thu 6 Aug, Tue 8 and Wed 9 Dec.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ivr.app import Services, services
from ivr.config import Settings
from ivr.core.participation import CaseRefused, Officer, Participation
from ivr.core.ports import NewReport
from ivr.domain.roles import Role
from ivr.participation_setup import participation_wiring
from ivr.store.queries import ConsoleQueries, Filters

pytestmark = pytest.mark.store


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class Desk:
    svc: Services
    clock: Clock
    cases: Participation

    async def events(self, report: int) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await self.svc.db.fetchall(
            "SELECT kind, actor, data FROM events WHERE report_id = ? ORDER BY id", (report,))
        return [(r["kind"], r["actor"], json.loads(r["data"])) for r in rows]

    async def case(self, report: int) -> dict[str, Any]:
        row = await self.svc.db.fetchone("SELECT * FROM cases WHERE report_id = ?", (report,))
        assert row is not None
        return dict(row)


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[Desk]:
    async with services(settings) as svc:
        clock = Clock(datetime(2026, 7, 27, 15, 0, tzinfo=UTC))  # Mon 27 Jul, 10:00 in Lima
        cases = participation_wiring(settings, svc.db, svc.deps.lines, clock=clock)
        cases.speaker = None  # answers are not spoken here (tests/test_flow_participation)
        yield Desk(svc, clock, cases)


def new_call(caller: str | None = "987654321") -> NewReport:
    return NewReport("query", 5, False, "es", "call-1", caller, caller)


async def enter(desk: Desk, kind: str = "query", area: str = "cleaning", **kw: Any) -> int:
    fields: dict[str, Any] = {"subject": "Desmonte en la esquina", "caller": None,
                              "contact_name": None, "contact_email": None,
                              "actor": "user:rosa", "intake": "counter", **kw}
    receipt = await desk.cases.enter(municipality=1, kind=kind, area=area, **fields)
    return receipt.report


# --- deadlines worked by hand --------------------------------------------------------


async def test_a_query_on_the_eve_of_the_national_holidays_is_due_on_13_august(
        desk: Desk) -> None:
    # Received Mon 27 Jul: 28 and 29 Jul are holidays; 1 = Thu 30, 2 = Fri 31, 3-5 = 3-5 Aug,
    # Thu 6 Aug (Junín) is a holiday, 6 = Fri 7, 7-9 = 10-12 Aug, 10 = Thu 13 Aug.
    receipt = await desk.cases.open_case(new_call(), kind="query", area="cleaning",
                                         business_days=10)
    assert receipt.due_on == date(2026, 8, 13)
    case = await desk.case(receipt.report)
    assert (case["received_on"], case["due_on"], case["business_days"]) == (
        "2026-07-27", "2026-08-13", 10)
    # A complaint's 30: ... 31 Aug (22), 1-4 Sep (26), 7-10 Sep (30).
    complaint = await desk.cases.open_case(new_call(), kind="complaint", area="parks",
                                           business_days=30)
    assert complaint.due_on == date(2026, 9, 10)


async def test_the_local_date_is_the_municipalitys_not_utcs(desk: Desk) -> None:
    desk.clock.at("2026-07-28T03:00:00+00:00")  # still Mon 27 Jul, 22:00, in Lima
    receipt = await desk.cases.open_case(new_call(), kind="query", area="cleaning",
                                         business_days=10)
    assert (await desk.case(receipt.report))["received_on"] == "2026-07-27"
    assert receipt.due_on == date(2026, 8, 13)


async def test_a_case_received_on_a_holiday_counts_from_the_next_business_day(
        desk: Desk) -> None:
    desk.clock.at("2026-07-28T15:00:00+00:00")  # Tue 28 Jul, Independence Day
    receipt = await desk.cases.open_case(new_call(), kind="query", area="cleaning",
                                         business_days=1)
    assert receipt.due_on == date(2026, 7, 30)


async def test_december_holidays_8_and_9(desk: Desk) -> None:
    desk.clock.at("2026-12-04T15:00:00+00:00")  # Fri 4 Dec
    # 1 = Mon 7, 8 and 9 are holidays, 2 = Thu 10, 3 = Fri 11, 4-8 = 14-18, 9 = 21, 10 = 22.
    assert (await desk.cases.open_case(new_call(), kind="query", area="works",
                                       business_days=10)).due_on == date(2026, 12, 22)
    desk.clock.at("2026-12-07T15:00:00+00:00")  # Mon 7 Dec: 1 = Thu 10, 2 = 11, 3 = Mon 14
    assert (await desk.cases.open_case(new_call(), kind="query", area="works",
                                       business_days=3)).due_on == date(2026, 12, 14)


async def test_the_municipalitys_own_day_moves_the_deadline(desk: Desk) -> None:
    await desk.cases.add_non_working_day(1, date(2026, 7, 31), "Día del trabajador municipal",
                                         actor="user:root")
    # As the first test, without Fri 31 Jul: 1 = Thu 30, 2-4 = 3-5 Aug, 5 = 7, 6-9 = 10-13,
    # 10 = Fri 14 Aug.
    number = await enter(desk)  # a query of the default line: 10 business days
    assert (await desk.case(number))["due_on"] == "2026-08-14"
    # Another municipality's calendar is its own.
    assert await desk.cases.non_working_days(2) == []
    assert await desk.cases.remove_non_working_day(1, date(2026, 7, 31), actor="user:root")
    assert not await desk.cases.remove_non_working_day(1, date(2026, 7, 31), actor="user:root")
    assert (await desk.cases.calendar(1)).is_business_day(date(2026, 7, 31))


async def test_a_line_without_days_for_a_kind_takes_the_settings_default(desk: Desk) -> None:
    assert desk.cases.default_days("query") == 10
    assert desk.cases.default_days("complaint") == 30
    assert desk.cases.default_days("compliment") is None


# --- written cases ----------------------------------------------------------------------


async def test_a_counter_case_is_a_complete_report_with_its_contact(desk: Desk) -> None:
    number = await enter(desk, kind="complaint", caller="987 654 321", contact_name="Rosa",
                         contact_email="rosa@example.org")
    row = await desk.svc.db.fetchone(
        "SELECT service, channel, complete, caller, caller_source, callback_due_at,"
        " entered_by FROM reports WHERE id = ?", (number,))
    assert row is not None and tuple(row) == (
        "participation", "counter", 1, "987654321", "typed", None, "rosa")
    case = await desk.case(number)
    assert (case["intake"], case["contact_name"], case["contact_email"], case["due_on"]) == (
        "counter", "Rosa", "rosa@example.org", "2026-09-10")
    opened = (await desk.events(number))[0]
    assert opened[0] == "report.opened" and opened[1] == "user:rosa"
    assert opened[2]["service"] == "participation" and opened[2]["due_on"] == "2026-09-10"
    assert opened[2]["area_name"] == "Limpieza pública"
    assert "Desmonte" not in json.dumps(opened[2])  # the text stays in the case


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "compliment"}, "pick a kind of case: complaint, suggestion or query"),
    ({"area": "moon"}, "pick one of the municipality's areas"),
    ({"intake": "fax"}, "a written case comes from the counter, an e-mail or Open311"),
    ({"subject": "   "}, "say what the case is about"),
    ({"subject": "x" * 4001}, "the text is longer than 4000 characters"),
    ({"subject": "a\x00b"}, "the text holds control characters"),
    ({"caller": "12-34"}, "a phone number is 6 to 15 digits"),
    ({"caller": "98765432a"}, "a phone number is 6 to 15 digits"),
    ({"contact_email": "rosa@"}, "that e-mail address is not valid"),
    ({"contact_name": "x" * 121}, "a name is up to 120 printable characters"),
])
async def test_a_written_case_is_refused_with_clear_words(
        desk: Desk, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseRefused) as refused:
        await enter(desk, **fields)
    assert str(refused.value) == message
    assert await desk.svc.db.fetchone("SELECT 1 FROM cases") is None


async def test_no_published_participation_line_no_case(desk: Desk) -> None:
    with pytest.raises(CaseRefused, match="no published participation line"):
        await desk.cases.enter(municipality=2, kind="query", area="cleaning",
                               intake="counter", subject="x", caller=None, contact_name=None,
                               contact_email=None, actor="user:rosa")


# --- answering, closing, reopening --------------------------------------------------------


async def test_an_officer_acts_only_on_the_areas_granted(desk: Desk) -> None:
    cleaning = await enter(desk, area="cleaning")
    parks = await enter(desk, area="parks")
    olga = Officer("user:olga", Role.OFFICER, 1, frozenset({"parks"}))
    with pytest.raises(CaseRefused, match="area you do not answer for"):
        await desk.cases.answer(cleaning, text="Ya se limpió", actor=olga)
    with pytest.raises(CaseRefused, match="no such case"):
        await desk.cases.answer(parks, text="x",
                                actor=Officer("user:ana", Role.OFFICER, 2, None))
    with pytest.raises(CaseRefused, match="officers, supervisors and admins"):
        await desk.cases.answer(parks, text="x",
                                actor=Officer("user:op", Role.OPERATOR, 1, None))
    await desk.cases.answer(parks, text="Se podó el árbol", actor=olga)
    assert (await desk.case(parks))["state"] == "answered"
    assert (await desk.case(cleaning))["state"] == "open"
    await desk.cases.close(parks, actor=olga)
    with pytest.raises(CaseRefused, match="a supervisor does that"):
        await desk.cases.reopen(parks, actor=olga, reason="x")


async def test_grants_decide_what_a_person_sees(desk: Desk) -> None:
    users = desk.svc.db
    from ivr.store.users import Users

    olga = (await Users(users).add("olga", Role.OFFICER, "a-long-enough-password-1")).id
    assert await desk.cases.grant_area(1, olga, "parks", actor="user:root")
    assert not await desk.cases.grant_area(1, olga, "parks", actor="user:root")
    with pytest.raises(CaseRefused, match="not one of this municipality's"):
        await desk.cases.grant_area(1, olga, "moon", actor="user:root")
    assert await desk.cases.areas_seen(1, olga, Role.OFFICER) == ["parks"]
    assert await desk.cases.areas_seen(1, olga, Role.SUPERVISOR) is None
    assert await desk.cases.areas_seen(1, olga, Role.OPERATOR) == []
    person = await desk.cases.person(1, olga, Role.OFFICER, "user:olga")
    assert person.areas == frozenset({"parks"})
    assert await desk.cases.revoke_area(1, olga, "parks", actor="user:root")
    assert await desk.cases.officer_areas(1, olga) == []
    kinds = [r["kind"] for r in await users.fetchall(
        "SELECT kind FROM events WHERE kind LIKE 'officer.%' ORDER BY id")]
    assert kinds == ["officer.area_granted", "officer.area_revoked"]


async def test_answer_close_and_reopen_each_leave_an_event_with_their_actor(
        desk: Desk) -> None:
    number = await enter(desk)
    sofia = Officer("user:sofia", Role.SUPERVISOR, 1, None)
    with pytest.raises(CaseRefused, match="only an answered case is closed"):
        await desk.cases.close(number, actor=sofia)
    with pytest.raises(CaseRefused, match="write the answer"):
        await desk.cases.answer(number, text="  ", actor=sofia)
    desk.clock.at("2026-08-14T15:00:00+00:00")  # a day late (due Thu 13 Aug)
    await desk.cases.answer(number, text="Se limpió la esquina", actor=sofia)
    with pytest.raises(CaseRefused, match="only an open case is answered"):
        await desk.cases.answer(number, text="otra", actor=sofia)
    case = await desk.case(number)
    assert (case["answer"], case["answered_on"], case["answered_by"], case["answer_audio"]) == (
        "Se limpió la esquina", "2026-08-14", "user:sofia", None)
    await desk.cases.close(number, actor="user:sofia")
    with pytest.raises(CaseRefused, match="give the reason"):
        await desk.cases.reopen(number, actor=sofia, reason=" ")
    await desk.cases.reopen(number, actor=sofia, reason="El vecino dice que sigue igual")
    case = await desk.case(number)
    assert (case["state"], case["answer"], case["closed_at"]) == ("open", None, None)
    history = [(k, a) for k, a, _ in await desk.events(number)][1:]
    assert history == [("case.answered", "user:sofia"), ("case.closed", "user:sofia"),
                       ("case.reopened", "user:sofia")]
    answered = (await desk.events(number))[1][2]
    assert answered["on_time"] is False and answered["status_line"] == "1235"
    status = await desk.cases.case_status(number)
    assert status is not None and status.state == "open" and status.overdue


# --- the sweep ----------------------------------------------------------------------------


async def test_the_sweep_warns_near_the_deadline_and_escalates_once(desk: Desk) -> None:
    number = await enter(desk)  # due Thu 13 Aug
    def sweep(at: str) -> Any:
        return desk.cases.sweep(datetime.fromisoformat(at))
    assert await sweep("2026-08-07T15:00:00+00:00") == {"warned": 0, "overdue": 0}  # Fri 7
    # Mon 10: three business days on is Thu 13, the due date.
    assert await sweep("2026-08-10T15:00:00+00:00") == {"warned": 1, "overdue": 0}
    assert await sweep("2026-08-11T15:00:00+00:00") == {"warned": 0, "overdue": 0}
    assert await sweep("2026-08-13T23:00:00+00:00") == {"warned": 0, "overdue": 0}  # due day
    assert await sweep("2026-08-14T15:00:00+00:00") == {"warned": 0, "overdue": 1}
    assert await sweep("2026-08-17T15:00:00+00:00") == {"warned": 0, "overdue": 0}
    kinds = [(k, a) for k, a, _ in await desk.events(number)]
    assert kinds[1:] == [("case.near_deadline", "system"), ("alert.case_overdue", "system")]
    case = await desk.case(number)
    assert case["warned_at"] and case["overdue_at"]


async def test_an_answered_case_is_never_escalated(desk: Desk) -> None:
    number = await enter(desk)
    await desk.cases.answer(number, text="Listo", actor="user:sofia")
    assert await desk.cases.sweep(datetime(2026, 9, 1, 15, tzinfo=UTC)) == {
        "warned": 0, "overdue": 0}


# --- the monthly report ---------------------------------------------------------------------


async def test_the_monthly_figures_per_area_and_kind(desk: Desk) -> None:
    on_time = await enter(desk, kind="query")  # due 13 Aug
    late = await enter(desk, kind="query")
    overdue = await enter(desk, kind="query", area="parks")
    await enter(desk, kind="complaint")  # due 10 Sep: open within its deadline
    desk.clock.at("2026-08-03T15:00:00+00:00")
    await enter(desk, kind="query")  # August's: due Tue 18 Aug, overdue by the 20th
    await desk.cases.answer(on_time, text="a", actor="user:sofia")
    desk.clock.at("2026-08-20T15:00:00+00:00")
    await desk.cases.answer(late, text="b", actor="user:sofia")
    july = {a.area: a for a in await desk.cases.monthly(1, "2026-07")}
    assert set(july) == {"cleaning", "parks"}
    cleaning = july["cleaning"]
    assert (cleaning.received, cleaning.on_time, cleaning.late, cleaning.overdue,
            cleaning.open) == (3, 1, 1, 0, 1)
    assert cleaning.by_kind["query"].received == 2 and cleaning.by_kind["complaint"].open == 1
    assert (july["parks"].received, july["parks"].overdue) == (1, 1)
    assert overdue  # (its number)
    august = await desk.cases.monthly(1, date(2026, 8, 15))
    assert [(a.area, a.received, a.open, a.overdue) for a in august] == [("cleaning", 1, 0, 1)]
    with pytest.raises(CaseRefused, match="pick a month"):
        await desk.cases.monthly(1, "2026-13")


# --- cases are not incidents --------------------------------------------------------------


async def test_cases_stay_out_of_the_incident_queue_search_and_analytics(desk: Desk) -> None:
    number = await enter(desk)
    await desk.cases.open_case(new_call(), kind="query", area="cleaning", business_days=10)
    queries = ConsoleQueries(desk.svc.db)
    assert await queries.queue(1) == [] and await queries.open_count(1) == 0
    assert await queries.search(Filters(), 1) == []
    facts = await desk.svc.db.fetchone("SELECT count(*) AS n FROM report_facts")
    assert facts is not None and facts["n"] == 0
    incident = await desk.svc.reports.open_report(new_call())
    assert [r["id"] for r in await queries.queue(1)] == [incident]
    assert [r["id"] for r in await queries.search(Filters(), 1)] == [incident]
    assert number != incident


async def test_a_citizen_texting_estado_hears_the_cases_own_state(desk: Desk,
                                                                  settings: Settings) -> None:
    from ivr.domain import texting
    from ivr.store.texts import TextStore

    number = await enter(desk, caller="987654321")
    store = TextStore(desk.svc.db, settings.callback_deadlines())
    assert await store.report_of(number) == ("case_open", "987654321", "es")
    await desk.cases.answer(number, text="Listo", actor="user:sofia")
    state = await store.report_of(number)
    assert state is not None and state[0] == "case_answered"
    assert texting.say("status", "es", "Miraflores", n=1, s=state[0]) == (
        "Miraflores: reporte 1: tiene respuesta, llame a la linea de estado para escucharla.")
    incident = await desk.svc.reports.open_report(new_call())
    assert (await store.report_of(incident) or ("",))[0] == "received"

"""What the notifier makes of citizens' cases (pure: ``plan`` on hand-made events): the
citizen's receipt with the due date and word of the answer, never the incident texts;
overdue cases escalated to supervisors with no rule written; the tax enumeration alert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from ivr.core.notifier import NotifySettings, plan
from ivr.domain import texting
from ivr.domain.alerting import CAUSES, EVENT_CAUSES, Person, Rule
from ivr.domain.notices import Context, FeedEvent, Place, ReportFacts
from ivr.domain.sms import is_gsm7, segments

NOW = datetime(2026, 7, 27, 15, tzinfo=UTC)
CASE = 1234
SUPERVISOR = Person(7, "Sofia", "supervisor", "987000111", "sofia@example.org")
OPERATOR = Person(8, "Ana", "operator", "987000222", None)
LONG_NAME = "Municipalidad de Miraflores"


def place(rules: tuple[Rule, ...] = ()) -> Place:
    return Place(1, "Miraflores", -300, rules=rules, people=(SUPERVISOR, OPERATOR))


def facts(channel: str = "ivr", service: str | None = "participation",
          caller: str | None = "987654321") -> ReportFacts:
    return ReportFacts(CASE, 1, "complaint", False, "received", caller, "es", channel, True,
                       service)


def event(kind: str, data: dict[str, Any], report: int | None = CASE, event_id: int = 1,
          municipality: int | None = None) -> FeedEvent:
    return FeedEvent(event_id, kind, report, municipality, NOW.isoformat(), data)


def run(*events: FeedEvent, report: ReportFacts | None = None,
        where: Place | None = None) -> list[Any]:
    ctx = Context(NOW, events=events, reports={CASE: report or facts()},
                  places={1: where or place()})
    return plan(ctx, NotifySettings()).messages


OPENED = {"service": "participation", "kind": "complaint", "area": "cleaning",
          "area_name": "Limpieza pública", "due_on": "2026-07-30", "type": "complaint"}


def test_a_case_gets_its_receipt_with_the_date_it_will_be_answered_by() -> None:
    (text,) = run(event("report.opened", OPENED))
    assert (text.channel, text.recipient, text.purpose) == ("sms", "987654321",
                                                            "citizen.case_receipt")
    assert text.body == ("Miraflores: su queja 1234 (limpieza publica) fue registrada."
                         " Le responderemos a mas tardar el 30/07/2026.")


def test_no_incident_receipt_nor_state_texts_for_a_case() -> None:
    assert run(event("call.ended", {"complete": True}),
               event("report.state_changed", {"to": "resolved"}, event_id=2)) == []
    # while an incident report still gets its receipt
    incident = run(event("call.ended", {"complete": True}), report=facts(service=None))
    assert [m.purpose for m in incident] == ["citizen.receipt"]


def test_the_answer_is_announced_with_the_status_line() -> None:
    (text,) = run(event("case.answered", {"status_line": "1235", "on_time": True}))
    assert text.purpose == "citizen.case_answered"
    assert text.body.startswith("Miraflores: su caso 1234 tiene respuesta. Escuchela"
                                " llamando al 1235")


def test_no_text_to_a_landline_or_a_withheld_number() -> None:
    assert run(event("report.opened", OPENED), report=facts(caller="014455667")) == []
    assert run(event("report.opened", OPENED), report=facts(caller=None)) == []


def test_an_overdue_case_goes_to_the_supervisors_without_a_rule() -> None:
    messages = run(event("alert.case_overdue", {"kind": "complaint", "due_on": "2026-07-30"}))
    assert {(m.user_id, m.channel) for m in messages} == {(7, "sms"), (7, "email")}
    assert all(m.purpose == "alert.case_overdue" and not m.urgent for m in messages)
    assert "1234" in messages[0].body
    # a rule written for the cause replaces the default audience
    rule = Rule(5, 1, "case_overdue", "user:8", sms=True, email=False)
    assert [m.user_id for m in run(event("alert.case_overdue", {}),
                                   where=place((rule,)))] == [8]


def test_a_tax_enumeration_is_urgent_and_goes_to_the_supervisors() -> None:
    assert EVENT_CAUSES["alert.tax_enumeration"] == "tax_enumeration"
    assert CAUSES["tax_enumeration"][0] is True
    messages = run(event("alert.tax_enumeration", {"detail": "ID ****678"}, report=None,
                         municipality=1))
    assert {m.user_id for m in messages} == {7} and all(m.urgent for m in messages)


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("kind", ["complaint", "suggestion", "query", "compliment"])
def test_every_case_text_is_gsm7_and_one_segment(language: str, kind: str) -> None:
    for what in ("case_receipt", "case_answered"):
        text = texting.say_case(what, language, LONG_NAME, n=9_999_999_999, kind=kind,
                                area="Gerencia de Desarrollo Urbano y Obras Públicas",
                                due=date(2026, 12, 22), line="1235")
        assert is_gsm7(text) and segments(text) == 1, (len(text), text)
        assert "{" not in text
    assert "registrado" in texting.say_case("case_receipt", "es", "M", n=1, kind="compliment",
                                            area="x", due=date(2026, 1, 2))

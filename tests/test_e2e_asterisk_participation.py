"""The participation line heard through SIP: SIPp → real Asterisk → ``alerta serve``.

The default participation line (1237) reaches the controller through the dialplan's
catch-all. One caller files a complaint for public cleaning (kind 1, area 1), keeps the
caller ID, speaks the message and keeps it; another picks a wrong area key first, then
parks, types their number and records again. Each hears the case number and the date the
municipality will answer by, from Asterisk's own playback log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.domain import spoken
from tests.e2e_asterisk import Stack, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import Step, dialogue

LANGUAGES = ("part_greeting", "es:language_option", "es:digit_1", "en:language_option",
             "en:digit_2")
KINDS = ("part_kind_intro", "type_complaint", "press", "digit_1", "type_suggestion", "press",
         "digit_2", "type_query", "press", "digit_3")
AREAS = ("part_area_intro", *(p for area, key in (
    ("cleaning", "1"), ("parks", "2"), ("transit", "3"), ("licences", "4"), ("works", "5"),
    ("other", "9")) for p in (f"area_{area}", "press", f"digit_{key}")))
RECORD = ("part_record_instructions", "beep")
CONFIRMED = "930000021"
TYPED = "987654321"  # what tests/sipp/make_pcaps.py types for a callback number


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e-participation"),
                       playback_log=True) as running:
        yield running


def rows(stack: Stack, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(stack.settings.database) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql).fetchall()


def heard(stack: Stack) -> list[list[str]]:
    calls: dict[str, list[str]] = {}
    for entry in stack.pbx.played():
        channel, path = entry.split(" ", 1)
        parts = path.rsplit(".", 1)[0].rsplit("/", 2)
        calls.setdefault(channel, []).append(f"{parts[-2]}/{parts[-1]}")
    return list(calls.values())


def test_two_citizens_file_cases_and_hear_the_number_and_the_date(stack: Stack) -> None:
    folder = stack.root / "dialogues"
    straight = [Step(LANGUAGES, "1"), Step(KINDS, "1"), Step(AREAS, "1"),
                Step(("callback_is", *(f"digit_{d}" for d in CONFIRMED), "callback_confirm"),
                     "1"),
                Step(RECORD, speak=True), Step((), "#"), Step(("review_menu",), "1")]
    detour = [Step(LANGUAGES, "1"), Step(KINDS, "3"), Step(("part_area_intro",), "7"),
              Step(("invalid", "hint_one_key", *AREAS), "2"),
              Step(("callback_is", *(f"digit_{d}" for d in "930000022"), "callback_confirm"),
                   "2"),
              Step(("callback_enter",), f"{TYPED}#"),
              Step(RECORD, speak=True), Step((), "#"), Step(("review_menu",), "2"),
              Step(RECORD, speak=True), Step((), "#")]
    calls = []
    for name, steps, number in (("part-straight", straight, CONFIRMED),
                                ("part-detour", detour, "930000022")):
        csv = callers_csv(stack.root / f"{name}.csv", [(number, name, number, "none")])
        calls.append(place(stack, dialogue(folder, name, steps, listen_s=25.0), csv,
                           name=name, line=stack.settings.participation_line))
    finish(calls)

    cases = {(r["kind"], r["area"]): r for r in rows(
        stack, "SELECT c.kind, c.area, c.due_on, c.report_id, r.caller, r.caller_source,"
               " r.complete, r.call_outcome FROM cases c JOIN reports r ON r.id = c.report_id")}
    assert set(cases) == {("complaint", "cleaning"), ("query", "parks")}, (
        stack.controller.log()[-3000:])
    complaint, query = cases["complaint", "cleaning"], cases["query", "parks"]
    assert (complaint["caller"], complaint["caller_source"], complaint["complete"]) == (
        CONFIRMED, "callerid", 1)
    assert (query["caller"], query["caller_source"], query["complete"]) == (TYPED, "typed", 1)
    takes = rows(stack, f"SELECT take FROM clips WHERE report_id = {query['report_id']}")
    assert sorted(t["take"] for t in takes) == [1, 2]

    today = datetime.now(ZoneInfo("America/Lima")).date()
    for case in (complaint, query):
        said = ["es/case_number_is", *(f"es/digit_{d}" for d in str(case["report_id"])),
                "es/case_answer_by",
                *(f"es/{p}" for p in spoken.day("es", date.fromisoformat(case["due_on"]),
                                                today)),
                "es/case_thanks"]
        assert any(c[-len(said):] == said for c in heard(stack)), (said, heard(stack))
    assert stack.tracebacks() == [] and stack.our_errors() == []

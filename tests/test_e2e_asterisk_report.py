"""Citizen calls through SIP, end to end: SIPp → real Asterisk (our configuration) →
``alerta serve`` → the store. Every call of the module starts at once (they are
independent: each caller has its own number) and runs at the prompts' real pace;
each test then checks what the store kept for its call.

The project's scenarios (tests/sipp/*.xml) cover the robbery report, a withheld
caller, hang-ups at every step, the emergency with an empty queue and a status
query; dialogues written per call (tests/e2e_dialogue.py) cover the other branches
of `report` and `status`: English, a rejected caller ID and a typed number, a wrong
then a right zone, a second take, the operator key and three wrong keys with an
empty queue, an unknown report number, a hang-up while asked for one, and the
status line's own number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e_asterisk import SippCall, Stack, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import LANGUAGE_MENU, Step, dialogue, menu_until, read_back

MESSAGE_S = 4.8  # tests/sipp/audio/message.wav, spoken after the beep
TYPED_CALLBACK = "987654321"  # what a withheld caller types (tests/sipp/make_pcaps.py)
HANGUP_STEPS = {1: "language", 2: "menu", 3: "callback", 4: "zone", 5: "record", 6: "review",
                7: "readback"}


def caller(n: int) -> str:
    """A nine-digit caller ID no other call of the module uses (and not in the directory)."""
    return f"96{n:07d}"


def branch_caller(n: int) -> str:
    return f"94{n:07d}"


RECORD = ("record_instructions", "beep")


def robbery_until_review(n: int, review: str) -> list[Step]:
    return [
        Step(LANGUAGE_MENU, "1"),
        Step(menu_until("2"), "2"),
        Step(read_back(branch_caller(n)), "1"),
        Step(("zone_enter",), "#"),
        Step(RECORD, speak=True),
        Step((), "#"),
        Step(("review_menu",), review),
    ]


DIALOGUES: dict[str, tuple[int, list[Step]]] = {
    "english": (1, [
        Step(LANGUAGE_MENU, "2", language="en"),
        Step(menu_until("2"), "2"),
        Step(read_back(branch_caller(1)), "1"),
        Step(("zone_enter",), "#"),
        Step(RECORD, speak=True),
        Step((), "#"),
        Step(("review_menu",), "1"),
    ]),
    "typed_callback_and_zone": (2, [
        Step(LANGUAGE_MENU, "1"),
        Step(menu_until("3"), "3"),
        Step(read_back(branch_caller(2)), "2"),
        Step(("callback_enter",), "912345678#"),
        Step(("zone_enter",), "99#"),
        Step(("zone_invalid", "zone_enter"), "5#"),
        Step(RECORD, speak=True),
        Step((), "#"),
        Step(("review_menu",), "1"),
    ]),
    "second_take": (3, [
        *robbery_until_review(3, "2"),
        Step(RECORD, speak=True),
        Step((), "#"),
    ]),
    "operator_key": (4, [
        Step(LANGUAGE_MENU, "1"),
        Step(menu_until("0"), "0"),
    ]),
    "three_wrong_keys": (5, [
        Step(LANGUAGE_MENU, "1"),
        Step(("menu_intro",), "7"),
        Step(("invalid", "hint_one_key", "menu_intro"), "8"),
        Step(("invalid", "hint_one_key", "menu_intro"), "7"),
    ]),
    "status_not_found": (6, [
        Step(LANGUAGE_MENU, "1"),
        Step(menu_until("9"), "9"),
        Step(("status_enter",), "999999#"),
        Step(("status_not_found", "status_enter"), "999998#"),
        Step(("status_not_found", "status_enter"), "999997#"),
    ]),
}
# Hanging up while asked for a report number: nothing to keep, nothing broken.
HANGUP_IN_STATUS = (8, [
    Step(LANGUAGE_MENU, "1"),
    Step(menu_until("9"), "9"),
])
STATUS_LINE = (7, [Step(("status_enter",), "1#")])


@dataclass
class Batch:
    stack: Stack
    calls: dict[str, SippCall]
    status: SippCall


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    root = tmp_path_factory.mktemp("e2e-report")
    with running_stack(root) as stack:
        def shown(n: int, number: str) -> Path:
            return callers_csv(root / f"caller-{number}.csv",
                               [(number, f"Caller {n}", number, "none")])

        withheld = callers_csv(root / "withheld.csv",
                               [("anonymous", "Anonymous", caller(99), "id")])
        started = [
            place(stack, "report_robbery", shown(1, caller(1)), name="robbery"),
            place(stack, "report_robbery", withheld, name="robbery_withheld"),
            place(stack, "report_hangup_during_record", shown(2, caller(2)),
                  name="hangup_recording"),
            place(stack, "emergency_to_operator", shown(3, caller(3)),
                  name="emergency_no_operator"),
        ]
        for n, step in HANGUP_STEPS.items():
            started.append(place(stack, "report_hangup_at", shown(10 + n, caller(10 + n)),
                                 name=f"hangup_{step}", sets={"hangup_at": str(n)}))
        folder = root / "dialogues"
        for name, (n, steps) in DIALOGUES.items():
            started.append(place(stack, dialogue(folder, name, steps),
                                 shown(n, branch_caller(n)), name=name))
        n, steps = HANGUP_IN_STATUS  # the caller leaves 1.5 s into "type the report number"
        started.append(place(stack, dialogue(folder, "hangup_status", steps, listen_s=1.5),
                             shown(n, branch_caller(n)), name="hangup_status"))
        calls = finish(started)
        # Report 1 exists now: ask for its status from the menu and on the status line.
        n, steps = STATUS_LINE
        status = finish([
            place(stack, "status_query", shown(50, caller(50)), name="status"),
            place(stack, dialogue(folder, "status_line", steps), shown(n, branch_caller(n)),
                  name="status_line", line=stack.settings.status_line),
        ])
        calls.update(status)
        yield Batch(stack, calls, status["status"])
        assert stack.wait_idle() == 0, stack.pbx.rx("core show channels")


def kinds(stack: Stack, report: int) -> list[str]:
    return [e["kind"] for e in stack.history(report)]


def test_a_robbery_report_keeps_type_callback_and_a_clip_of_the_message(batch: Batch) -> None:
    call = batch.calls["robbery"]
    assert call.rc == 0, call.diagnostics()
    row = batch.stack.report_of(caller(1))
    assert (row["type"], row["complete"], row["call_outcome"]) == ("robbery", True, "completed")
    assert row["caller_source"] == "callerid"
    assert row["clip_partial"] is False
    seconds = batch.stack.clip_seconds(row)
    assert MESSAGE_S - 1.0 <= seconds <= MESSAGE_S + 1.5, seconds
    assert kinds(batch.stack, row["number"])[:1] == ["report.opened"]
    assert {"report.clip_attached", "call.ended"} <= set(kinds(batch.stack, row["number"]))
    assert call.received_bye(), "the IVR should end the call after the readback"


def test_a_withheld_caller_types_the_callback_number(batch: Batch) -> None:
    call = batch.calls["robbery_withheld"]
    assert call.rc == 0, call.diagnostics()
    (row,) = [r for r in batch.stack.reports() if r["caller"] == TYPED_CALLBACK]
    assert (row["caller_source"], row["complete"]) == ("typed", True)
    assert row["caller"] != caller(99), "the asserted number of a withheld caller is not used"
    assert batch.stack.clip_seconds(row) >= MESSAGE_S - 1.0


def test_hanging_up_while_recording_keeps_the_partial_clip(batch: Batch) -> None:
    call = batch.calls["hangup_recording"]
    assert call.rc == 0, call.diagnostics()
    row = batch.stack.report_of(caller(2))
    assert (row["complete"], row["call_outcome"], row["call_last_step"]) == (
        False, "hung_up", "record")
    assert row["clip_partial"] is True
    # the caller spoke 2.4 s of the message before hanging up
    assert 1.0 <= batch.stack.clip_seconds(row) <= MESSAGE_S - 1.0


@pytest.mark.parametrize("n", sorted(HANGUP_STEPS))
def test_a_hangup_at_any_step_keeps_what_was_said(batch: Batch, n: int) -> None:
    step = HANGUP_STEPS[n]
    call = batch.calls[f"hangup_{step}"]
    assert call.rc == 0, call.diagnostics()
    rows = [r for r in batch.stack.reports() if r["caller"] == caller(10 + n)]
    if step in ("language", "menu"):
        assert rows == [], "no incident type was chosen: no report"
        return
    (row,) = rows
    assert row["type"] == "robbery"
    if step == "readback":  # everything was captured before the number was read back
        assert (row["complete"], row["call_outcome"]) == (True, "completed")
    else:
        assert (row["complete"], row["call_outcome"], row["call_last_step"]) == (
            False, "hung_up", step)
    history = kinds(batch.stack, row["number"])
    assert "call.ended" in history
    if step in ("review", "readback"):
        assert "report.clip_attached" in history
        assert batch.stack.clip_seconds(row) >= MESSAGE_S - 1.0
    else:
        assert row["clip_path"] is None


def test_an_emergency_with_no_operator_logged_in_still_opens_the_report(batch: Batch) -> None:
    call = batch.calls["emergency_no_operator"]
    assert call.rc == 0, call.diagnostics()
    row = batch.stack.report_of(caller(3))
    assert (row["type"], row["emergency"]) == ("emergency", True)
    # the queue was empty, so the flow went on to the callback question (unanswered)
    assert row["call_last_step"] != "operator"


def test_the_status_of_report_1_is_told_and_the_ivr_hangs_up(batch: Batch) -> None:
    assert batch.status.rc == 0, batch.status.diagnostics()
    assert batch.status.received_bye(), "report 1 exists: the IVR tells its state, then ends"
    assert [r for r in batch.stack.reports() if r["caller"] == caller(50)] == []


def ok(batch: Batch, name: str) -> SippCall:
    call = batch.calls[name]
    assert call.rc == 0, call.diagnostics()
    return call


def test_a_caller_who_picks_english_gets_an_english_report(batch: Batch) -> None:
    ok(batch, "english")
    row = batch.stack.report_of(branch_caller(1))
    assert (row["language"], row["type"], row["complete"]) == ("en", "robbery", True)
    assert batch.stack.clip_seconds(row) >= MESSAGE_S - 1.0


def test_a_rejected_caller_id_gives_way_to_a_typed_number_and_a_retyped_zone(
        batch: Batch) -> None:
    ok(batch, "typed_callback_and_zone")
    (row,) = [r for r in batch.stack.reports() if r["caller"] == "912345678"]
    assert (row["type"], row["caller_source"], row["zone"]) == ("suspicious", "typed", "5")
    assert row["complete"] is True


def test_a_second_take_replaces_the_first(batch: Batch) -> None:
    ok(batch, "second_take")
    row = batch.stack.report_of(branch_caller(3))
    assert row["complete"] is True
    takes = [json.loads(e["data"])["take"] for e in batch.stack.history(row["number"])
             if e["kind"] == "report.clip_attached"]
    assert takes == [1, 2]
    assert batch.stack.clip_seconds(row) >= MESSAGE_S - 1.0


def test_the_operator_key_with_nobody_in_the_queue_opens_an_operator_report(
        batch: Batch) -> None:
    ok(batch, "operator_key")
    row = batch.stack.report_of(branch_caller(4))
    assert row["type"] == "operator"


def test_three_wrong_keys_with_an_empty_queue_still_open_a_report(batch: Batch) -> None:
    ok(batch, "three_wrong_keys")
    row = batch.stack.report_of(branch_caller(5))
    assert row["type"] == "operator"


def test_a_report_number_that_does_not_exist_is_refused_three_times(batch: Batch) -> None:
    call = ok(batch, "status_not_found")
    assert call.received_bye(), "after three misses the IVR says goodbye and hangs up"
    assert [r for r in batch.stack.reports() if r["caller"] == branch_caller(6)] == []


def test_a_hangup_while_asked_for_a_report_number_leaves_nothing_behind(
        batch: Batch) -> None:
    call = ok(batch, "hangup_status")
    assert not call.received_bye(), "the caller left first"
    assert [r for r in batch.stack.reports() if r["caller"] == branch_caller(8)] == []


def test_the_status_line_tells_the_state_of_report_1(batch: Batch) -> None:
    call = ok(batch, "status_line")
    assert call.received_bye(), "the IVR tells the state, says goodbye and hangs up"


def test_no_error_from_our_files_and_no_traceback(batch: Batch) -> None:
    assert batch.stack.our_errors() == []
    assert batch.stack.tracebacks() == []

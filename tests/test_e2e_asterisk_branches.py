"""The other branches of flows `report` and `status`, through SIP and a real Asterisk:
English, a rejected caller ID and a typed callback number, a wrong then a right zone,
a second take of the message, the operator key and three wrong keys with an empty
queue, a report number that does not exist, and the status line's own number.

Each call is a dialogue written for it (tests/e2e_dialogue.py); all start at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e_asterisk import SippCall, Stack, callers_csv, finish, place, running_stack
from tests.e2e_dialogue import Step, dialogue, menu_until, read_back

MESSAGE_S = 4.8
RECORD = ("record_instructions", "beep")


def caller(n: int) -> str:
    return f"94{n:07d}"


def robbery_until_review(n: int, review: str) -> list[Step]:
    return [
        Step(("greeting", "language_choice"), "1"),
        Step(menu_until("2"), "2"),
        Step(read_back(caller(n)), "1"),
        Step(("zone_enter",), "#"),
        Step(RECORD, speak=True),
        Step((), "#"),
        Step(("review_menu",), review),
    ]


DIALOGUES: dict[str, tuple[int, list[Step]]] = {
    "english": (1, [
        Step(("greeting", "language_choice"), "2", language="en"),
        Step(menu_until("2"), "2"),
        Step(read_back(caller(1)), "1"),
        Step(("zone_enter",), "#"),
        Step(RECORD, speak=True),
        Step((), "#"),
        Step(("review_menu",), "1"),
    ]),
    "typed_callback_and_zone": (2, [
        Step(("greeting", "language_choice"), "1"),
        Step(menu_until("3"), "3"),
        Step(read_back(caller(2)), "2"),
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
        Step(("greeting", "language_choice"), "1"),
        Step(menu_until("0"), "0"),
    ]),
    "three_wrong_keys": (5, [
        Step(("greeting", "language_choice"), "1"),
        Step(("menu_intro",), "7"),
        Step(("invalid", "hint_one_key", "menu_intro"), "8"),
        Step(("invalid", "hint_one_key", "menu_intro"), "7"),
    ]),
    "status_not_found": (6, [
        Step(("greeting", "language_choice"), "1"),
        Step(menu_until("9"), "9"),
        Step(("status_enter",), "999999#"),
        Step(("status_not_found", "status_enter"), "999998#"),
        Step(("status_not_found", "status_enter"), "999997#"),
    ]),
}
# Hanging up while asked for a report number: nothing to keep, nothing broken.
HANGUP_IN_STATUS = (8, [
    Step(("greeting", "language_choice"), "1"),
    Step(menu_until("9"), "9"),
])
STATUS_LINE = (7, [Step(("status_enter",), "1#")])


@dataclass
class Batch:
    stack: Stack
    calls: dict[str, SippCall]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    root = tmp_path_factory.mktemp("e2e-branches")
    with running_stack(root) as stack:
        def csv(n: int) -> Path:
            return callers_csv(root / f"caller{n}.csv",
                               [(caller(n), f"Caller {n}", caller(n), "none")])

        started = [place(stack, dialogue(root / "dialogues", name, steps), csv(n), name=name)
                   for name, (n, steps) in DIALOGUES.items()]
        n, steps = HANGUP_IN_STATUS  # the caller leaves 1.5 s into "type the report number"
        started.append(place(stack, dialogue(root / "dialogues", "hangup_status", steps,
                                             listen_s=1.5), csv(n), name="hangup_status"))
        calls = finish(started)
        n, steps = STATUS_LINE  # report 1 exists by now
        status = place(stack, dialogue(root / "dialogues", "status_line", steps), csv(n),
                       name="status_line", line=stack.settings.status_line)
        status.wait()
        calls["status_line"] = status
        yield Batch(stack, calls)
        assert stack.wait_idle() == 0, stack.pbx.rx("core show channels")


def ok(batch: Batch, name: str) -> SippCall:
    call = batch.calls[name]
    assert call.rc == 0, call.diagnostics()
    return call


def test_a_caller_who_picks_english_gets_an_english_report(batch: Batch) -> None:
    ok(batch, "english")
    row = batch.stack.report_of(caller(1))
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
    row = batch.stack.report_of(caller(3))
    assert row["complete"] is True
    takes = [json.loads(e["data"])["take"] for e in batch.stack.history(row["number"])
             if e["kind"] == "report.clip_attached"]
    assert takes == [1, 2]
    assert batch.stack.clip_seconds(row) >= MESSAGE_S - 1.0


def test_the_operator_key_with_nobody_in_the_queue_opens_an_operator_report(
        batch: Batch) -> None:
    ok(batch, "operator_key")
    row = batch.stack.report_of(caller(4))
    assert row["type"] == "operator"


def test_three_wrong_keys_with_an_empty_queue_still_open_a_report(batch: Batch) -> None:
    ok(batch, "three_wrong_keys")
    row = batch.stack.report_of(caller(5))
    assert row["type"] == "operator"


def test_a_report_number_that_does_not_exist_is_refused_three_times(batch: Batch) -> None:
    call = ok(batch, "status_not_found")
    assert call.received_bye(), "after three misses the IVR says goodbye and hangs up"
    assert [r for r in batch.stack.reports() if r["caller"] == caller(6)] == []


def test_a_hangup_while_asked_for_a_report_number_leaves_nothing_behind(
        batch: Batch) -> None:
    call = ok(batch, "hangup_status")
    assert not call.received_bye(), "the caller left first"
    assert [r for r in batch.stack.reports() if r["caller"] == caller(8)] == []


def test_the_status_line_tells_the_state_of_report_1(batch: Batch) -> None:
    call = ok(batch, "status_line")
    assert call.received_bye(), "the IVR tells the state, says goodbye and hangs up"


def test_no_error_from_our_files_and_no_traceback(batch: Batch) -> None:
    assert batch.stack.our_errors() == []
    assert batch.stack.tracebacks() == []

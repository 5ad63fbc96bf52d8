"""Citizen calls through SIP, end to end: SIPp → real Asterisk (our configuration) →
``alerta serve`` → the store. Every call of the module starts at once (they are
independent: each caller has its own number) and runs at the prompts' real pace;
each test then checks what the store kept for its call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e_asterisk import SippCall, Stack, callers_csv, finish, place, running_stack

MESSAGE_S = 4.8  # tests/sipp/audio/message.wav, spoken after the beep
TYPED_CALLBACK = "987654321"  # what a withheld caller types (tests/sipp/make_pcaps.py)
HANGUP_STEPS = {1: "language", 2: "menu", 3: "callback", 4: "zone", 5: "record", 6: "review",
                7: "readback"}


def caller(n: int) -> str:
    """A nine-digit caller ID no other call of the module uses (and not in the directory)."""
    return f"96{n:07d}"


@dataclass
class Batch:
    stack: Stack
    calls: dict[str, SippCall]
    status: SippCall


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    root = tmp_path_factory.mktemp("e2e-report")
    with running_stack(root) as stack:
        def shown(n: int) -> Path:
            return callers_csv(root / f"caller{n}.csv",
                               [(caller(n), f"Caller {n}", caller(n), "none")])

        withheld = callers_csv(root / "withheld.csv",
                               [("anonymous", "Anonymous", caller(99), "id")])
        started = [
            place(stack, "report_robbery", shown(1), name="robbery"),
            place(stack, "report_robbery", withheld, name="robbery_withheld"),
            place(stack, "report_hangup_during_record", shown(2), name="hangup_recording"),
            place(stack, "emergency_to_operator", shown(3), name="emergency_no_operator"),
        ]
        for n, step in HANGUP_STEPS.items():
            started.append(place(stack, "report_hangup_at", shown(10 + n),
                                 name=f"hangup_{step}", sets={"hangup_at": str(n)}))
        calls = finish(started)
        # Report 1 exists now: ask for its status from the report line's menu.
        status = place(stack, "status_query", shown(50), name="status")
        status.wait()
        yield Batch(stack, calls, status)
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


def test_no_error_from_our_files_and_no_traceback(batch: Batch) -> None:
    assert batch.stack.our_errors() == []
    assert batch.stack.tracebacks() == []

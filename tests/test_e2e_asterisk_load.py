"""50 citizens report at once, through SIP and a real Asterisk: 50 complete reports,
each with its clip, no channel left behind, no traceback in the controller's log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e_asterisk import SippCall, Stack, callers_csv, place, running_stack

CALLS = 50
MESSAGE_S = 4.8


def caller(n: int) -> str:
    return f"95{n:07d}"


@dataclass
class Load:
    stack: Stack
    call: SippCall


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Load]:
    root = tmp_path_factory.mktemp("e2e-load")
    with running_stack(root) as stack:
        csv = callers_csv(root / "callers.csv",
                          [(caller(n), f"Caller {n}", caller(n), "none") for n in range(CALLS)])
        call = place(stack, "report_robbery", csv, name="load", calls=CALLS, rate=10,
                     trace=False)
        call.wait()
        yield Load(stack, call)


def test_fifty_concurrent_calls_give_fifty_complete_reports(load: Load) -> None:
    assert load.call.rc == 0, load.call.diagnostics()
    rows = [r for r in load.stack.reports() if r["caller"] in {caller(n) for n in range(CALLS)}]
    assert len(rows) == CALLS
    assert {r["caller"] for r in rows} == {caller(n) for n in range(CALLS)}
    assert all(r["complete"] and r["type"] == "robbery" for r in rows), rows
    lengths = [load.stack.clip_seconds(r) for r in rows]
    assert all(MESSAGE_S - 1.0 <= s <= MESSAGE_S + 1.5 for s in lengths), lengths


def test_after_the_load_no_channel_is_left(load: Load) -> None:
    assert load.stack.wait_idle() == 0, load.stack.pbx.rx("core show channels")


def test_after_the_load_no_traceback_and_no_asterisk_error(load: Load) -> None:
    assert load.stack.tracebacks() == []
    assert load.stack.our_errors() == []

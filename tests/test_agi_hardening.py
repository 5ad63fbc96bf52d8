"""What one bad FastAGI peer, a full disk or a forged caller ID must not do to a call.

Everything runs the real server over TCP on loopback, with the fake Asterisk
from ``ivr.testing`` placing the real calls.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.agi.channel import record_result
from ivr.agi.protocol import parse_reply
from ivr.channel import RecordEnd, RecordingFailed
from ivr.config import Settings
from ivr.testing import make_tone_wav
from tests.e2e import Line, report_number, running_line

# Spanish, robbery, confirm the caller ID, skip the zone (and keep the message).
TO_RECORD = ["1", "2", "1", "#"]
# Spanish, robbery, no callback number typed in three tries, skip the zone, keep.
NOTHING_TYPED = ["1", "2", "", "", "", "#", "1"]


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 2.0)


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings) as running:
        yield running


def prompt_ids(played: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in played]


async def events_of(line: Line, report: int, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(e["data"]) for e in await line.svc.reports.history(report) if e["kind"] == kind
    ]


def stored_caller_id_raw(settings: Settings, report: int) -> str | None:
    # Read-only look at the column no reader exposes: what the network sent.
    with sqlite3.connect(f"file:{settings.database}?mode=ro", uri=True) as conn:
        (value,) = conn.execute(
            "SELECT caller_id_raw FROM reports WHERE id = ?", (report,)
        ).fetchone()
    return value  # type: ignore[no-any-return]


# --- a recording Asterisk could not write (defect 4) ------------------------------------


def test_writefile_is_a_failed_recording_not_a_hangup() -> None:
    with pytest.raises(RecordingFailed):
        record_result(parse_reply(["200 result=-1 (writefile)"]))
    hung_up = record_result(parse_reply(["200 result=-1 (hangup) endpos=19520"]))
    assert hung_up.ended_by is RecordEnd.HANGUP and hung_up.samples == 19520


async def test_full_disk_at_record_still_reads_the_number_back_and_alerts(
    line: Line, voice: Path
) -> None:
    result = await line.call(keys=TO_RECORD, voice=voice, unwritable_takes=(1,))
    assert result.error is None and not result.hung_up
    assert result.goto is None  # not sent to the fallback
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    # Told what happened, then the number, digit by digit.
    tail = heard[heard.index("record_failed") :]
    digits = [f"digit_{d}" for d in str(number)]
    assert tail == ["record_failed", "report_number_is", *digits, "thanks_goodbye"]
    assert "record_empty" not in heard and heard.count("beep") == 1  # no second try
    row = await line.report(number)
    assert row["call_outcome"] == "completed" and row["complete"] is False
    assert row["clip_path"] is None and row["caller"] == "5551234"
    (alert,) = await events_of(line, number, "alert.record_failed")
    assert alert["take"] == 1 and "writefile" in alert["detail"]
    assert not list(line.svc.vault.incoming.iterdir())


async def test_full_disk_on_the_second_take_keeps_the_first(line: Line, voice: Path) -> None:
    # Review menu: 2 = record again; that second take cannot be written.
    result = await line.call(keys=[*TO_RECORD, "2"], voice=voice, unwritable_takes=(2,))
    assert result.error is None and not result.hung_up
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    assert "record_failed" not in heard and "message_saved" in heard
    row = await line.report(number)
    assert row["complete"] is True and row["clip_path"] is not None
    (alert,) = await events_of(line, number, "alert.record_failed")
    assert alert["take"] == 2


# --- the caller ID as callback number (defect 7) ----------------------------------------


async def test_overlong_caller_id_is_not_a_callback_number(
    line: Line, voice: Path, settings: Settings
) -> None:
    forty_digits = "1234567890" * 4
    result = await line.call(
        keys=["1", "2", "987654321#", "#", "1"], voice=voice, caller_id=forty_digits
    )
    assert result.error is None
    number = report_number(result)
    assert number is not None
    heard = prompt_ids(result.played)
    assert "callback_is" not in heard and "callback_enter" in heard
    row = await line.report(number)
    assert row["caller"] == "987654321" and row["caller_source"] == "typed"
    assert stored_caller_id_raw(settings, number) == forty_digits


@pytest.mark.parametrize("caller_id", ["12345", "1234567890123456"])
async def test_caller_id_outside_the_typed_length_rule_is_asked_for(
    line: Line, voice: Path, caller_id: str
) -> None:
    # callback_min_digits=6, callback_max_digits=15 by default: 5 and 16 digits fail.
    result = await line.call(keys=NOTHING_TYPED, voice=voice, caller_id=caller_id)
    number = report_number(result)
    assert number is not None
    row = await line.report(number)
    assert row["caller"] is None and row["caller_source"] == "none"


async def test_raw_caller_id_is_kept_but_capped(
    line: Line, voice: Path, settings: Settings
) -> None:
    name_like = "sip-peer-" + "x" * 500  # a SIP peer may send a name of any length
    result = await line.call(keys=NOTHING_TYPED, voice=voice, caller_id=name_like)
    number = report_number(result)
    assert number is not None
    assert stored_caller_id_raw(settings, number) == name_like[:80]

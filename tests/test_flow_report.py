"""Every branch of the ``report`` flow through the real server and the fake Asterisk."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.testing import make_tone_wav
from tests.e2e import Line, report_number, running_line

# Keys for a straight path: Spanish, robbery, confirm number, skip zone, keep message.
STRAIGHT = ["1", "2", "1", "#", "1"]


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 3.0)


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings) as running:
        yield running


def played_ids(result_played: list[str]) -> list[str]:
    return [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in result_played]


async def test_straight_spanish_robbery_report(line: Line, voice: Path) -> None:
    result = await line.call(keys=STRAIGHT, voice=voice)
    assert result.error is None and not result.hung_up
    number = report_number(result)
    assert number == 1
    assert result.steps == ["language", "menu", "callback", "zone", "record", "review", "readback"]
    row = await line.report(number)
    assert row["type"] == "robbery" and row["priority"] == 2 and not row["emergency"]
    assert row["state"] == "received" and row["complete"] is True
    assert row["language"] == "es" and row["caller"] == "5551234"
    assert row["caller_source"] == "callerid" and row["zone"] is None
    assert row["clip_seconds"] == 3.0 and row["clip_partial"] is False
    assert row["call_outcome"] == "completed"
    clip = line.clip_file(row)
    with wave.open(str(clip)) as wav:
        assert wav.getnframes() == 24000 and wav.getframerate() == 8000
    ids = played_ids(result.played)
    # The number is read back digit by digit from our own prompts, then goodbye.
    tail = ids[ids.index("es/report_number_is") + 1 :]
    assert tail == ["es/digit_1", "es/thanks_goodbye"]
    assert "es/callback_is" in ids and ids.count("es/digit_5") >= 3
    assert result.commands[-1] == "HANGUP"


async def test_english_when_two_is_pressed(line: Line, voice: Path) -> None:
    result = await line.call(keys=["2", "5", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["language"] == "en" and row["type"] == "accident"
    assert all("/en/" in p for p in result.played[2:] if "/prompts/" in p)


async def test_spanish_when_nothing_is_pressed(line: Line, voice: Path) -> None:
    result = await line.call(keys=["", "4", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["language"] == "es" and row["type"] == "noise"


async def test_a_key_interrupts_the_menu_prompt(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "^3", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["type"] == "suspicious"
    # The menu stopped at the interrupted prompt: no GET DATA for the menu.
    menu_cmds = result.commands[result.commands.index('SET VARIABLE ALERTA_STEP "menu"') :]
    assert not menu_cmds[1:].__iter__().__next__().startswith("GET DATA")


async def test_wrong_key_and_timeout_replay_the_menu_with_a_hint(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "7", "", "6", "1", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["type"] == "other" and row["complete"]
    ids = played_ids(result.played)
    assert ids.count("es/invalid") == 1 and ids.count("es/no_input") == 1
    assert ids.count("es/hint_one_key") == 2
    assert ids.count("es/menu_intro") == 3


async def test_three_failures_go_to_the_operator(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "7", "8", "*"], queue_status=None)
    number = report_number(result)
    assert number is not None
    row = await line.report(number)
    assert row["type"] == "operator" and row["call_outcome"] == "operator"
    assert any(c.startswith("EXEC Queue") for c in result.commands)


async def test_three_failures_without_operators_hear_a_polite_goodbye(
    settings: Settings,
) -> None:
    async with running_line(settings, operator_queue="") as line:
        result = await line.call(keys=["1", "", "", ""])
        assert report_number(result) is None and await line.reports() == []
        assert played_ids(result.played)[-1] == "es/goodbye_retry"
        assert result.commands[-1] == "HANGUP"


async def test_emergency_goes_to_the_operator_queue_first(line: Line) -> None:
    result = await line.call(keys=["1", "1"], queue_status=None)
    row = await line.report(report_number(result) or 0)
    assert row["type"] == "emergency" and row["emergency"] and row["priority"] == 1
    assert row["complete"] and row["call_outcome"] == "operator"
    queue = [c for c in result.commands if c.startswith("EXEC Queue")]
    assert queue == ['EXEC Queue "operators,c,,,30"']


async def test_emergency_with_no_operator_answering_leaves_a_message(
    line: Line, voice: Path
) -> None:
    result = await line.call(keys=["1", "1", "1", "#", "1"], voice=voice, queue_status="TIMEOUT")
    row = await line.report(report_number(result) or 0)
    assert row["emergency"] and row["complete"] and row["clip_seconds"] == 3.0
    assert "es/operator_unavailable" in played_ids(result.played)


async def test_operator_key_opens_a_report_and_queues(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "0", "1", "#", "1"], voice=voice, queue_status="JOINEMPTY")
    row = await line.report(report_number(result) or 0)
    assert row["type"] == "operator" and row["complete"]


async def test_caller_types_another_callback_number(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "2", "987654321#", "#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["caller"] == "987654321" and row["caller_source"] == "typed"


async def test_withheld_number_must_be_typed_and_lengths_are_checked(
    line: Line, voice: Path
) -> None:
    result = await line.call(
        keys=["1", "2", "123#", "987654321#", "#", "1"], voice=voice, caller_id=None
    )
    row = await line.report(report_number(result) or 0)
    assert row["caller"] == "987654321" and row["caller_source"] == "typed"
    ids = played_ids(result.played)
    assert "es/callback_is" not in ids and ids.count("es/callback_invalid") == 1


async def test_withheld_number_never_given_is_recorded_as_none(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "", "", "", "#", "1"], voice=voice, caller_id=None)
    row = await line.report(report_number(result) or 0)
    assert row["caller"] is None and row["caller_source"] == "none" and row["complete"]


async def test_known_caller_gets_the_directory_location(line: Line, voice: Path) -> None:
    await line.svc.directory.import_csv(
        "number,address,zone,lat,lon\n5551234,Av. Larco 123,3,-12.12,-77.03\n"
    )
    result = await line.call(keys=["1", "2", "1", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["zone"] == "3" and row["address"] == "Av. Larco 123" and row["complete"]
    assert "es/zone_enter" not in played_ids(result.played)


async def test_zone_code_typed_wrong_then_right(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "1", "99#", "7#", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    assert row["zone"] == "7"
    assert played_ids(result.played).count("es/zone_invalid") == 1


async def test_record_again_keeps_both_takes_and_uses_the_second(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "1", "#", "2"], voice=voice)
    number = report_number(result) or 0
    row = await line.report(number)
    assert row["clip_path"].endswith(f"-r{number}-t2.wav") and row["complete"]
    history = await line.svc.reports.history(number)
    assert [e["kind"] for e in history].count("report.clip_attached") == 2
    assert result.steps.count("record") == 2 and result.steps.count("review") == 1


async def test_listen_then_keep(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "1", "#", "3", "1"], voice=voice)
    row = await line.report(report_number(result) or 0)
    clip_stem = str(line.clip_file(row).with_suffix(""))
    assert clip_stem in result.played and row["complete"]


async def test_an_empty_first_take_is_asked_again(line: Line, voice: Path) -> None:
    result = await line.call(keys=["1", "2", "1", "#", "1"], voice=b"")
    row = await line.report(report_number(result) or 0)
    assert "es/record_empty" in played_ids(result.played)
    assert result.steps.count("record") == 2
    assert row["clip_path"] is None and row["complete"] is False


async def test_status_from_the_main_menu(line: Line, voice: Path) -> None:
    first = await line.call(keys=STRAIGHT, voice=voice)
    number = report_number(first) or 0
    result = await line.call(keys=["1", "9", f"{number}#"])
    ids = played_ids(result.played)
    assert "es/status_received" in ids and "es/last_changed" in ids
    assert ids[ids.index("es/last_changed") + 1] == "es/number_0"
    assert ids[-1] == "es/goodbye"
    assert len(await line.reports()) == 1  # asking for status opens no report

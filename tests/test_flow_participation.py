"""Every branch of the ``participation`` flow, and the status line telling a case, through
the real server and the fake Asterisk (the default participation line seeded on start:
kinds 1 complaint, 2 suggestion, 3 query; areas 1 cleaning, 2 parks, 3 transit,
4 licences, 5 works, 9 other)."""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite
import pytest

from ivr.config import Settings
from ivr.domain import spoken
from ivr.domain.business_days import Calendar, due_date
from ivr.domain.lines import LineConfig
from ivr.promptaudio import tts
from ivr.store.reports import utc_now
from ivr.testing import CallResult, make_tone_wav
from tests.e2e import Line, report_number, running_line

# Spanish, complaint, cleaning, keep the caller ID, keep the message.
STRAIGHT = ["1", "1", "1", "1", "1"]
KINDS = {"1": ("complaint", 30), "2": ("suggestion", 30), "3": ("query", 10)}
AREAS = {"1": "cleaning", "2": "parks", "3": "transit", "4": "licences", "5": "works",
         "9": "other"}


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 3.0)


@pytest.fixture
async def line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings) as running:
        yield running


def heard(result: CallResult) -> list[str]:
    return [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in result.played]


async def place(line: Line, keys: list[str], voice: Path | None = None,
                **script: Any) -> CallResult:
    result = await line.call(script="participation", keys=keys, voice=voice, language="es",
                             **script)
    assert result.error is None, result.error
    return result


async def case_of(line: Line, result: CallResult) -> dict[str, Any]:
    number = report_number(result)
    assert number is not None, "no case was opened"
    row = await line.svc.db.fetchone(
        "SELECT c.*, r.caller, r.caller_source, r.complete, r.call_outcome, r.call_last_step,"
        " r.service, r.channel, r.callback_due_at, r.type FROM cases c"
        " JOIN reports r ON r.id = c.report_id WHERE c.report_id = ?", (number,))
    assert row is not None
    return dict(row)


def today_in_lima() -> date:
    return utc_now().astimezone(ZoneInfo("America/Lima")).date()


def due_dates(days: int) -> set[str]:
    """The due date for a case received today (or tomorrow: a call across midnight)."""
    today = today_in_lima()
    return {due_date(d, days, Calendar("PE")).isoformat()
            for d in (today, today + timedelta(days=1))}


async def test_straight_complaint_for_public_cleaning(line: Line, voice: Path) -> None:
    result = await place(line, STRAIGHT, voice)
    assert result.steps == ["language", "menu", "area", "callback", "record", "review",
                            "readback"]
    case = await case_of(line, result)
    assert (case["kind"], case["area"], case["intake"], case["state"]) == (
        "complaint", "cleaning", "ivr", "open")
    assert (case["service"], case["channel"], case["callback_due_at"]) == (
        "participation", "ivr", None)
    assert (case["caller"], case["caller_source"], case["complete"]) == (
        "5551234", "callerid", 1)
    assert case["call_outcome"] == "completed" and case["business_days"] == 30
    assert case["due_on"] in due_dates(30)
    ids = heard(result)
    assert ids[:1] == ["es/part_greeting"] and "es/part_kind_intro" in ids
    assert "es/part_area_intro" in ids and "es/area_cleaning" in ids
    assert "es/part_record_instructions" in ids and "es/record_instructions" not in ids
    tail = ids[ids.index("es/case_message_saved"):]
    said = spoken.day("es", date.fromisoformat(case["due_on"]), today_in_lima())
    assert tail == ["es/case_message_saved", "es/case_number_is", "es/digit_1",
                    "es/case_answer_by", *(f"es/{p}" for p in said), "es/case_thanks"]
    assert result.commands[-1] == "HANGUP"


@pytest.mark.parametrize("key", sorted(KINDS))
async def test_each_kind_has_its_deadline(line: Line, voice: Path, key: str) -> None:
    kind, days = KINDS[key]
    case = await case_of(line, await place(line, ["1", key, "2", "1", "1"], voice))
    assert (case["kind"], case["type"], case["area"], case["business_days"]) == (
        kind, kind, "parks", days)
    assert case["due_on"] in due_dates(days)


@pytest.mark.parametrize("key", sorted(AREAS))
async def test_each_area_key_picks_its_area(line: Line, voice: Path, key: str) -> None:
    case = await case_of(line, await place(line, ["1", "3", key, "1", "1"], voice))
    assert case["area"] == AREAS[key]


async def test_english_all_through(line: Line, voice: Path) -> None:
    result = await place(line, ["2", "3", "4", "1", "1"], voice)
    case = await case_of(line, result)
    assert (case["kind"], case["area"]) == ("query", "licences")
    assert all("/en/" in p for p in result.played[2:] if "/prompts/" in p)
    assert "en/case_answer_by" in heard(result)


async def test_a_wrong_area_key_then_the_right_one(line: Line, voice: Path) -> None:
    result = await place(line, ["1", "1", "7", "2", "1", "1"], voice)
    assert (await case_of(line, result))["area"] == "parks"
    ids = heard(result)
    assert ids[ids.index("es/part_area_intro") + 1:].count("es/part_area_intro") == 1
    assert "es/invalid" in ids and "es/hint_one_key" in ids


async def test_no_area_after_every_try_files_it_for_other_areas(line: Line,
                                                                voice: Path) -> None:
    result = await place(line, ["1", "2", "", "", "", "1", "1"], voice)
    assert (await case_of(line, result))["area"] == "other"
    assert heard(result).count("es/part_area_intro") == 3


async def test_no_area_and_no_other_area_says_goodbye(line: Line) -> None:
    admin = line.svc.lines
    assert admin is not None
    (row,) = [r for r in await admin.lines() if r.flow == "participation"]
    assert row.live_version is not None
    version = await admin.store.version(row.id, row.live_version)
    assert version is not None
    config = LineConfig.from_dict(version.document)
    without = dataclasses.replace(config, areas=tuple(
        a for a in config.areas if a.id != "other"))
    await admin.store.publish(row.id, without, actor="test")
    result = await place(line, ["1", "2", "", "", ""])
    assert report_number(result) is None and await line.reports() == []
    assert heard(result)[-1] == "es/goodbye_retry" and result.commands[-1] == "HANGUP"


async def test_no_kind_after_every_try_says_goodbye(line: Line) -> None:
    result = await place(line, ["1", "", "8", ""])
    assert report_number(result) is None and await line.reports() == []
    assert result.steps == ["language", "menu"]
    assert heard(result)[-1] == "es/goodbye_retry"


async def test_a_typed_callback_number(line: Line, voice: Path) -> None:
    result = await place(line, ["1", "1", "1", "2", "987654321#", "1"], voice)
    case = await case_of(line, result)
    assert (case["caller"], case["caller_source"]) == ("987654321", "typed")


async def test_a_withheld_caller_types_the_number_or_leaves_none(line: Line,
                                                                voice: Path) -> None:
    typed = await case_of(line, await place(line, ["1", "1", "1", "987654321#", "1"], voice,
                                            caller_id=None))
    assert (typed["caller"], typed["caller_source"]) == ("987654321", "typed")
    none = await case_of(line, await place(line, ["1", "1", "1", "", "", "", "1"], voice,
                                           caller_id=None))
    assert (none["caller"], none["caller_source"]) == (None, "none")
    assert none["complete"] == 1  # the message was kept: only the number is missing


async def test_recording_again_keeps_the_second_take(line: Line, voice: Path) -> None:
    result = await place(line, ["1", "1", "1", "1", "2"], voice)
    case = await case_of(line, result)
    clips = await line.svc.db.fetchall(
        "SELECT take FROM clips WHERE report_id = ? ORDER BY take", (case["report_id"],))
    assert [c["take"] for c in clips] == [1, 2]
    assert result.steps.count("record") == 2


@pytest.mark.parametrize("step", ["start", "language", "menu", "area"])
async def test_a_hangup_before_the_area_is_picked_opens_no_case(line: Line,
                                                                step: str) -> None:
    result = await line.call(script="participation", keys=STRAIGHT, hangup_at=step)
    assert result.hung_up and report_number(result) is None
    assert await line.reports() == []


@pytest.mark.parametrize(("step", "complete", "takes"), [
    ("callback", 0, 0), ("record", 0, 1), ("review", 0, 1), ("readback", 1, 1)])
async def test_a_hangup_after_the_area_keeps_the_case_and_where_it_ended(
        line: Line, tmp_path: Path, step: str, complete: int, takes: int) -> None:
    voice = make_tone_wav(tmp_path / "v.wav", 4.0)
    hangup_on = ("STREAM FILE",) if step == "readback" else ("GET DATA", "RECORD FILE")
    result = await line.call(script="participation", keys=STRAIGHT, voice=voice,
                             hangup_at=step, hangup_on=hangup_on)
    assert result.hung_up and result.error is None
    case = await case_of(line, result)
    assert (case["kind"], case["area"], case["state"]) == ("complaint", "cleaning", "open")
    assert case["call_last_step"] == step and case["complete"] == complete
    assert case["call_outcome"] == ("completed" if complete else "hung_up")
    clips = await line.svc.db.fetchall("SELECT path, partial FROM clips WHERE report_id = ?",
                                       (case["report_id"],))
    assert len(clips) == takes
    if step == "record":
        with wave.open(str(line.svc.vault.path_of(clips[0]["path"]))) as wav:
            assert wav.getnframes() == 16000 and clips[0]["partial"] == 1
    assert line.server.active_calls == 0


# --- the status line tells a case --------------------------------------------------------


async def filed(line: Line, voice: Path) -> int:
    number = report_number(await place(line, STRAIGHT, voice))
    assert number is not None
    return number


async def change(line: Line, number: int, sql: str, *params: Any) -> None:
    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute(f"UPDATE cases SET {sql} WHERE report_id = ?", (*params, number))

    await line.svc.db.write(op)


async def ask_status(line: Line, number: int) -> list[str]:
    result = await line.call(script="status", keys=[f"{number}#"], language="es")
    assert result.error is None
    ids = heard(result)
    return ids[ids.index("es/status_enter") + 1:]


async def test_the_status_line_tells_an_open_case_and_its_date(line: Line,
                                                               voice: Path) -> None:
    number = await filed(line, voice)
    case = await line.svc.db.fetchone("SELECT due_on FROM cases WHERE report_id = ?",
                                      (number,))
    assert case is not None
    said = spoken.day("es", date.fromisoformat(case["due_on"]), today_in_lima())
    assert await ask_status(line, number) == [
        "es/case_status_open", "es/case_answer_by", *(f"es/{p}" for p in said), "es/goodbye"]


async def test_the_status_line_tells_an_overdue_case_since_when(line: Line,
                                                                voice: Path) -> None:
    number = await filed(line, voice)
    await change(line, number, "due_on = ?", "2026-01-02")
    said = spoken.day("es", date(2026, 1, 2), today_in_lima())
    assert await ask_status(line, number) == [
        "es/case_overdue", *(f"es/{p}" for p in said), "es/goodbye"]


async def test_the_status_line_plays_the_spoken_answer(line: Line, voice: Path) -> None:
    number = await filed(line, voice)
    await change(line, number, "state = 'answered', answer = 'Listo', answer_audio = ?,"
                 " answered_on = '2026-01-05'", "answers/1-abcd.wav")
    after = await ask_status(line, number)
    assert after[:2] == ["es/case_status_answered", "es/case_answer_follows"]
    result = await line.call(script="status", keys=[f"{number}#"], language="es")
    played = str(line.svc.settings.voiceclips / "answers" / "1-abcd")
    assert played in result.played
    assert after[-1] == "es/goodbye"


async def test_the_status_line_without_a_spoken_answer_says_it_was_given(
        line: Line, voice: Path) -> None:
    number = await filed(line, voice)
    await change(line, number, "state = 'answered', answer = 'Listo'")
    assert await ask_status(line, number) == [
        "es/case_status_answered", "es/case_answer_by_phone", "es/goodbye"]
    await change(line, number, "state = 'closed'")
    assert await ask_status(line, number) == ["es/case_status_closed", "es/goodbye"]


@pytest.mark.skipif(not tts.engines(), reason="espeak-ng and sox are not installed")
async def test_an_answer_is_spoken_into_the_clips_folder(line: Line, voice: Path) -> None:
    number = await filed(line, voice)
    cases = line.svc.deps.cases
    assert cases is not None
    await cases.answer(number, text="Se limpió la esquina el lunes. Gracias por avisar.",  # type: ignore[attr-defined]
                       actor="user:sofia")
    row = await line.svc.db.fetchone("SELECT answer_audio FROM cases WHERE report_id = ?",
                                     (number,))
    assert row is not None and row["answer_audio"].startswith("answers/")
    with wave.open(str(line.svc.settings.voiceclips / row["answer_audio"])) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() > 8000
    result = await line.call(script="status", keys=[f"{number}#"], language="es")
    assert str(line.svc.settings.voiceclips / row["answer_audio"]).removesuffix(
        ".wav") in result.played


# --- nothing lost -------------------------------------------------------------------------


async def test_a_case_is_kept_when_the_database_is_away_and_stored_after(
        settings: Settings, tmp_path: Path) -> None:
    from tests.test_journal import until_stored, write_locked

    voice = make_tone_wav(tmp_path / "v.wav", 1.0)
    async with running_line(settings, journal_after_s=0.2) as line:
        book = line.svc.book
        assert book is not None
        with write_locked(settings.database):
            result = await place(line, ["1", "3", "5", "1", "1"], voice)
            number = report_number(result)
            assert number is not None and book.pending() == 1
            assert (await line.svc.db.fetchall("SELECT report_id FROM cases")) == []
            ids = heard(result)
            assert ids[ids.index("es/case_number_is") + 1] == f"es/digit_{number}"
            assert "es/case_answer_by" in ids
        await until_stored(book)
        case = await case_of(line, result)
        assert (case["kind"], case["area"], case["complete"], case["call_outcome"]) == (
            "query", "works", 1, "completed")
        assert case["due_on"] in due_dates(10)
        kinds = [r["kind"] for r in await line.svc.db.fetchall(
            "SELECT kind FROM events WHERE report_id = ? ORDER BY id", (number,))]
        assert kinds[:4] == ["report.opened", "report.callback_number",
                             "report.clip_attached", "call.ended"]


async def test_a_case_in_the_journal_across_a_restart_is_stored_once(
        settings: Settings, tmp_path: Path) -> None:
    from ivr.store.journal import FILE_NAME
    from tests.test_journal import until_stored, write_locked

    voice = make_tone_wav(tmp_path / "v.wav", 1.0)
    journal_file = settings.journal_folder / FILE_NAME
    async with running_line(settings, journal_after_s=0.2) as line:
        with write_locked(settings.database):
            number = report_number(await place(line, ["1", "2", "2", "1", "1"], voice))
        kept = journal_file.read_bytes()
        assert b'"op":"case"' in kept.replace(b" ", b"")
        assert line.svc.book is not None
        await until_stored(line.svc.book)
    journal_file.write_bytes(kept)  # a crash before the journal was emptied
    async with running_line(settings) as line:
        assert line.svc.book is not None
        await until_stored(line.svc.book)
        rows = await line.svc.db.fetchall("SELECT kind, area FROM cases")
        assert [tuple(r) for r in rows] == [("suggestion", "parks")]
        assert number is not None
        assert not (settings.journal_folder / "rejected.jsonl").exists()

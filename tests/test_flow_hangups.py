"""Nothing is lost: a caller hanging up at any step keeps the report and its clip."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from ivr.config import Settings
from tests.e2e import report_number, running_line

KEYS = ["1", "2", "1", "#", "1"]


@pytest.mark.parametrize("where", ["after_reply", "before_next_reply"])
@pytest.mark.parametrize(
    ("step", "complete", "has_clip"),
    [
        ("callback", False, False),
        ("zone", False, False),
        ("record", False, True),
        ("review", False, True),
        ("readback", True, True),
    ],
)
async def test_hangup_after_a_type_was_picked_keeps_the_report(
    settings: Settings, tmp_path: Path, step: str, complete: bool, has_clip: bool, where: str
) -> None:
    from ivr.testing import make_tone_wav

    voice = make_tone_wav(tmp_path / "v.wav", 4.0)
    hangup_on = ("STREAM FILE",) if step == "readback" else ("GET DATA", "RECORD FILE")
    async with running_line(settings) as line:
        result = await line.call(
            keys=KEYS, voice=voice, hangup_at=step, hangup_on=hangup_on, hangup_line=where
        )
        assert result.hung_up and result.error is None
        number = report_number(result)
        assert number is not None
        row = await line.report(number)
        assert row["type"] == "robbery" and row["caller"] == "5551234"
        assert row["complete"] is complete
        assert row["call_last_step"] == step
        assert row["call_outcome"] == ("completed" if complete else "hung_up")
        if has_clip:
            clip = line.clip_file(row)
            with wave.open(str(clip)) as wav:
                frames = wav.getnframes()
            if step == "record":  # only the audio received before the hangup
                assert row["clip_partial"] is True and frames == 16000
                assert row["clip_seconds"] == 2.0
            else:
                assert frames == 32000
        else:
            assert row["clip_path"] is None
        assert not list(line.svc.vault.incoming.iterdir())
        # The server closed the session: nothing is left running.
        assert line.server.active_calls == 0


@pytest.mark.parametrize("step", ["start", "language", "menu"])
async def test_hangup_before_a_type_is_picked_opens_no_report(
    settings: Settings, step: str
) -> None:
    async with running_line(settings) as line:
        result = await line.call(keys=KEYS, hangup_at=step)
        assert result.hung_up
        assert report_number(result) is None and await line.reports() == []


async def test_hangup_waiting_for_an_operator_keeps_the_emergency(settings: Settings) -> None:
    async with running_line(settings) as line:
        result = await line.call(
            keys=["1", "1"], hangup_at="operator", hangup_on=("EXEC",)
        )
        row = await line.report(report_number(result) or 0)
        assert row["emergency"] and row["call_outcome"] == "hung_up"
        assert row["call_last_step"] == "operator"

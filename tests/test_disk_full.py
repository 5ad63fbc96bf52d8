"""Short of disk space before recording: an operator takes the message, and an alert is raised.

"Short" is set up for real: ``min_free_mb`` above the space this disk has.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.app import Services
from ivr.clips.disk import DiskGuard, free_mb
from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.testing import make_tone_wav
from tests.e2e import Line, report_number, running_line

STRAIGHT = ["1", "2", "1", "#", "1"]  # Spanish, robbery, confirm number, skip zone, keep
MORE_THAN_ANY_DISK_MB = 1 << 40  # a petabyte and then some


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return make_tone_wav(tmp_path / "voice.wav", 2.0)


@pytest.fixture
async def short_line(settings: Settings) -> AsyncIterator[Line]:
    async with running_line(settings, min_free_mb=MORE_THAN_ANY_DISK_MB) as line:
        yield line


async def alerts(line: Line, report: int) -> list[dict[str, Any]]:
    return [json.loads(e["data"]) for e in await line.svc.reports.history(report)
            if e["kind"] == "alert.disk_low"]


async def test_disk_low_sends_the_caller_to_an_operator(short_line: Line, voice: Path) -> None:
    result = await short_line.call(keys=STRAIGHT, voice=voice, queue_status=None)
    number = report_number(result)
    assert number is not None and result.error is None
    assert "record" not in result.steps and result.steps[-1] == "operator"
    assert not any(c.startswith("RECORD FILE") for c in result.commands)
    row = await short_line.report(number)
    assert row["call_outcome"] == "operator" and row["complete"] is True
    assert row["caller"] == "5551234"  # what was captured before is kept
    (alert,) = await alerts(short_line, number)
    assert alert["min_free_mb"] == MORE_THAN_ANY_DISK_MB and alert["free_mb"] > 0


async def test_with_no_operator_answering_the_message_is_still_recorded(
    short_line: Line, voice: Path
) -> None:
    result = await short_line.call(keys=STRAIGHT, voice=voice, queue_status="TIMEOUT")
    number = report_number(result) or 0
    assert any(p.endswith("/es/operator_unavailable") for p in result.played)
    row = await short_line.report(number)
    assert row["clip_seconds"] == 2.0 and row["call_outcome"] == "completed"
    assert len(await alerts(short_line, number)) == 1


async def test_with_no_operator_queue_the_caller_just_records(
    settings: Settings, voice: Path
) -> None:
    async with running_line(settings, min_free_mb=MORE_THAN_ANY_DISK_MB,
                            operator_queue="") as line:
        result = await line.call(keys=STRAIGHT, voice=voice)
        number = report_number(result) or 0
        assert not any(p.endswith("operator_unavailable") for p in result.played)
        assert (await line.report(number))["clip_seconds"] == 2.0
        assert len(await alerts(line, number)) == 1


async def test_with_room_nothing_changes_and_no_alert(settings: Settings, voice: Path) -> None:
    async with running_line(settings, min_free_mb=1) as line:
        result = await line.call(keys=STRAIGHT, voice=voice)
        number = report_number(result) or 0
        assert "record" in result.steps
        assert await alerts(line, number) == []


async def test_the_guard_measures_the_clip_disk(svc: Services, settings: Settings) -> None:
    assert free_mb(settings.voiceclips) > 1
    now = datetime(2025, 3, 14, tzinfo=UTC)
    room = DiskGuard(svc.vault.root, 0, svc.db, lambda: now)
    assert await room.room_to_record(1)
    short = DiskGuard(svc.vault.root, MORE_THAN_ANY_DISK_MB, svc.db, lambda: now)
    report = await svc.reports.open_report(
        NewReport("noise", 5, False, "es", "c", None, None)
    )
    assert not await short.room_to_record(report)
    row = await svc.db.fetchone("SELECT report_id, kind, actor, at FROM events"
                                " WHERE kind = 'alert.disk_low'")
    assert row is not None and tuple(row) == (report, "alert.disk_low", "system",
                                              "2025-03-14T00:00:00.000+00:00")


async def test_an_alert_that_cannot_be_stored_still_routes_the_caller(svc: Services) -> None:
    short = DiskGuard(svc.vault.root, MORE_THAN_ANY_DISK_MB, svc.db, lambda: datetime.now(UTC))
    assert not await short.room_to_record(404)  # no such report: the alert is refused

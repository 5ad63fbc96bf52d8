"""Two replays of one journal at once (start-up's and the background task's) are safe.

At start-up with reports left in the journal, ``services()`` replays it itself
while the book's background task, woken by the same records, replays it too.
The one that finished second used to index past the emptied journal
(IndexError): when that was start-up's, the controller did not start.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ivr.app import services
from ivr.config import Settings
from ivr.testing import make_tone_wav
from tests.e2e import report_number, running_line
from tests.test_journal import KEYS, book_of, write_locked

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL


async def journal_left_by_an_earlier_run(settings: Settings, tmp_path: Path) -> list[int]:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings, journal_after_s=0.2) as line:
        with write_locked(settings.database):
            results = await asyncio.gather(*(line.call(keys=KEYS, voice=voice) for _ in range(3)))
            await line.server.stop(5.0)
            assert book_of(line).pending() == 3
            await book_of(line).stop()  # the controller stops while the database is locked
    numbers = [report_number(r) for r in results]
    assert None not in numbers
    return [n for n in numbers if n is not None]


async def test_two_replays_at_once_both_finish_and_store_each_record_once(
    settings: Settings, tmp_path: Path
) -> None:
    numbers = await journal_left_by_an_earlier_run(settings, tmp_path)
    async with services(settings, reconcile_clips=False) as svc:
        book = svc.book
        assert book is not None
        first, second = await asyncio.gather(book.replay(), book.replay())
        assert first and second and book.pending() == 0
        for number in numbers:
            opened = await svc.db.fetchall(
                "SELECT id FROM events WHERE report_id = ? AND kind = 'report.opened'", (number,))
            clips = await svc.db.fetchall("SELECT id FROM clips WHERE report_id = ?", (number,))
            assert len(opened) == 1 and len(clips) == 1


async def test_a_restart_with_reports_in_the_journal_replays_them_without_a_failed_replay(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    numbers = await journal_left_by_an_earlier_run(settings, tmp_path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ivr.store.resilient"):
        async with services(settings) as svc:
            book = svc.book
            assert book is not None
            await book.emptied.wait()
            for number in numbers:
                assert await svc.db.fetchone("SELECT 1 FROM reports WHERE id = ?", (number,))
    failures = [r for r in caplog.records if "replay failed" in r.getMessage()]
    assert failures == []

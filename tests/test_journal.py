"""The journal: a database that is locked, full or away loses no report.

Every caller who picked a type hears a report number, and once the database takes
writes again every such report is in it exactly once, with its clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import pytest

from ivr.app import Services
from ivr.config import Settings
from ivr.domain.roles import Intake
from ivr.store.casework import Casework, ManualReport
from ivr.store.db import StoreBusy
from ivr.store.journal import FILE_NAME, Journal, pending_reports
from ivr.store.resilient import ResilientBook
from ivr.testing import CallResult, make_tone_wav
from tests.console_util import console_site
from tests.e2e import Line, report_number, running_line
from tests.test_startup_resilience import fill, small_disk
from tests.test_store import new_report

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

KEYS = ["1", "2", "1", "#", "1"]  # Spanish, robbery, keep the caller ID, no zone, keep the take


def book_of(line: Line) -> ResilientBook:
    book = line.svc.book
    assert book is not None
    return book


@contextlib.contextmanager
def write_locked(database: Path | str) -> Iterator[object]:
    """Another process's long write (a rollup rebuild, say): the write lock, held.
    On PostgreSQL: the writers' advisory lock, held by another session."""
    if isinstance(database, str):
        import psycopg

        from ivr.store.postgres import WRITE_LOCK

        with psycopg.connect(database, autocommit=True) as session:
            session.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
            try:
                yield session
            finally:
                session.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
        return
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("PRAGMA busy_timeout = 10000")
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def until_stored(book: ResilientBook) -> None:
    """Wait (a liveness bound, not a measure) until the journal has been replayed."""
    book.kick()
    for _ in range(1200):
        if book.pending() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{book.pending()} report(s) still in the journal")


def heard_number(result: CallResult) -> str:
    """The digits played after "your report number is"."""
    names = [Path(p).name for p in result.played]
    start = max(i for i, name in enumerate(names) if name == "report_number_is") + 1
    digits = []
    for name in names[start:]:
        if not name.startswith("digit_"):
            break
        digits.append(name.removeprefix("digit_"))
    return "".join(digits)


async def check_every_report_stored_once(line: Line, results: list[CallResult]) -> None:
    numbers = []
    for result in results:
        assert result.error is None, result.error
        number = report_number(result)
        assert number is not None, "a caller who picked a type got no report"
        assert heard_number(result) == str(number), "the caller never heard the number"
        numbers.append(number)
    assert len(set(numbers)) == len(numbers), "two callers heard the same number"
    db = line.svc.db
    for number in numbers:
        rows = await db.fetchall("SELECT complete, call_outcome FROM reports WHERE id = ?",
                                 (number,))
        assert [tuple(r) for r in rows] == [(1, "completed")], number
        clips = await db.fetchall("SELECT path FROM clips WHERE report_id = ?", (number,))
        assert len(clips) == 1, f"report {number} has {len(clips)} clips"
        assert line.svc.vault.path_of(clips[0]["path"]).is_file()
        kinds = [r["kind"] for r in await db.fetchall(
            "SELECT kind FROM events WHERE report_id = ? ORDER BY id", (number,))]
        assert kinds.count("report.opened") == 1 and kinds.count("call.ended") == 1, kinds
        assert kinds.count("report.clip_attached") == 1, kinds


async def test_a_database_locked_through_50_calls_loses_no_report(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings, journal_after_s=0.2) as line:
        book = book_of(line)
        with write_locked(settings.database):
            results = await asyncio.gather(
                *(line.call(keys=KEYS, voice=voice) for _ in range(50)))
            # every call is over and the database still has not taken a write
            assert book.pending() == 50
            assert pending_reports(settings.journal_folder) == 50  # what another process sees
            rows = await line.svc.db.fetchall("SELECT COUNT(*) AS n FROM reports")
            assert rows[0]["n"] == 0
        await until_stored(book)
        await check_every_report_stored_once(line, results)
        assert (settings.journal_folder / FILE_NAME).stat().st_size == 0


async def test_a_change_that_never_began_in_time_never_commits_late(
    settings: Settings
) -> None:
    async with running_line(settings) as line:
        db = line.svc.db

        async def mark(conn: aiosqlite.Connection) -> None:
            await conn.execute("INSERT INTO journal_applied VALUES ('late', 'x')")

        with write_locked(settings.database):
            with pytest.raises(StoreBusy):
                await db.write_within(mark, 0.1)
        await db.write(lambda conn: conn.execute("SELECT 1"))  # the writer moved past it
        assert await db.fetchone("SELECT 1 FROM journal_applied WHERE record_key = 'late'") is None


async def test_a_record_torn_by_a_crash_is_dropped_and_the_rest_replayed(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings, journal_after_s=0.2) as line:
        with write_locked(settings.database):
            results = [await line.call(keys=KEYS, voice=voice) for _ in range(2)]
            await line.server.stop(5.0)
            saved = (settings.journal_folder / FILE_NAME).read_bytes()
    # the next start finds the two calls' records and half of a third one
    (settings.journal_folder / FILE_NAME).write_bytes(saved + saved[:40])
    async with running_line(settings) as line:
        await until_stored(book_of(line))
        await check_every_report_stored_once(line, results)


async def test_a_replay_cut_off_and_started_again_stores_nothing_twice(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    journal_file = settings.journal_folder / FILE_NAME
    async with running_line(settings, journal_after_s=0.2) as line:
        with write_locked(settings.database):
            results = await asyncio.gather(*(line.call(keys=KEYS, voice=voice) for _ in range(5)))
        saved = journal_file.read_bytes()
        await until_stored(book_of(line))
    # a crash after the records were applied, before the journal was emptied
    journal_file.write_bytes(saved)
    async with running_line(settings) as line:
        await until_stored(book_of(line))
        assert book_of(line).replayed > 0  # it did go through the records again
        await check_every_report_stored_once(line, results)
    assert Journal(settings.journal_folder).open().records == []


async def test_manual_entries_never_take_a_number_reserved_for_callers(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings) as line:
        caller = report_number(await line.call(keys=KEYS, voice=voice))
        assert caller is not None
        casework = Casework(line.svc.db)
        manual = await casework.file_manual(
            ManualReport(type_id="robo", priority=3, channel=Intake.RADIO,
                         summary="patrol saw it"),
            actor="user:ana")
        block = await line.svc.db.fetchone(
            "SELECT MAX(last) AS last FROM report_number_blocks")
        assert block is not None and manual > block["last"] >= caller
        # and the next caller still gets a reserved number, not one after the manual entry
        after = report_number(await line.call(keys=KEYS, voice=voice))
        assert after is not None and caller < after <= block["last"]


# --- the database's disk is full ----------------------------------------------------------


async def test_a_full_database_disk_loses_no_report(settings: Settings, tmp_path: Path) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    # Room for the WAL to reach its checkpoint size (1000 pages, 4 MiB) once space is back.
    with small_disk(tmp_path / "dbdisk", "size=8m") as disk:
        settings = settings.__class__(**{**settings.__dict__, "database": disk / "a.sqlite3",
                                         "prompt_library": tmp_path / "prompt-library"})
        async with running_line(settings, journal_after_s=0.5) as line:
            book = book_of(line)
            filler = fill(disk)
            results = await asyncio.gather(*(line.call(keys=KEYS, voice=voice) for _ in range(20)))
            assert book.pending() == 20
            filler.unlink()
            await until_stored(book)
            await check_every_report_stored_once(line, results)


def test_the_journal_lives_off_the_database_disk_by_default() -> None:
    settings = Settings()
    assert settings.journal_folder == settings.voiceclips / ".journal"


async def test_a_report_opened_outside_a_call_takes_a_number_above_the_blocks(
    svc: Services,
) -> None:
    number = await svc.reports.open_report(new_report())
    block = await svc.db.fetchone("SELECT MIN(first) AS first, MAX(last) AS last"
                                  " FROM report_number_blocks")
    assert block is not None and block["first"] == 1 and number == block["last"] + 1


async def test_the_console_says_how_many_reports_wait_for_the_database(
    settings: Settings, tmp_path: Path
) -> None:
    voice = make_tone_wav(tmp_path / "voice.wav", 1.0)
    async with running_line(settings, journal_after_s=0.2) as line:
        # a console of its own (as in another process) reads the journal folder
        async with console_site(settings) as site, site.browser() as b:
            await b.login("ana")
            with write_locked(settings.database):
                await asyncio.gather(*(line.call(keys=KEYS, voice=voice) for _ in range(3)))
                home = await (await b.get("/", headers={"Accept": "text/html"})).text()
                assert "3 reporte(s) esperan a la base de datos" in home
            await until_stored(book_of(line))
            home = await (await b.get("/", headers={"Accept": "text/html"})).text()
            assert "esperan a la base de datos" not in home
